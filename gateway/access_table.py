"""The authorization table of docs/authorization.md, computed from the routes' `access`.

    .venv/bin/python -m gateway.access_table    # prints the table

The test suite checks the document holds exactly this table, and walks every row against
the running suite.
"""

from __future__ import annotations

from gateway.access import Access
from gateway.routes import ROUTES
from gateway.routing import Route
from shared.authorization import MemberRole

COLUMNS = ("OWNER", "ADMIN", "MEMBER", "BILLING", "staff", "API key")
ALLOWED, REFUSED, ANYONE = "✓", "✗", "any"


def endpoint(route: Route) -> str:
    return f"{route.method} {route.template}"


def cells(access: Access) -> tuple[str, ...]:
    if access.kind == "public":
        return (ANYONE,) * len(COLUMNS)
    if access.kind == "signed-in":
        return (ALLOWED,) * 5 + (REFUSED,)
    if access.kind == "staff":
        return (REFUSED,) * 4 + (ALLOWED, REFUSED)
    if access.kind == "terminal":
        return (REFUSED,) * 5 + (f"`{access.scope}`",)
    assert access.permission is not None
    roles = tuple(
        ALLOWED if MemberRole(r) in access.permission.roles else REFUSED for r in COLUMNS[:4]
    )
    scopes = " or ".join(f"`{s}`" for s in sorted(access.permission.scopes)) or REFUSED
    return (*roles, ALLOWED, scopes)


def rows() -> list[tuple[str, ...]]:
    return [(f"`{endpoint(r)}`", r.access.describe(), *cells(r.access)) for r in ROUTES]


def markdown() -> str:
    header = ("endpoint", "access", *COLUMNS)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
