"""Who may call a route, as each route declares it (`access=`). The gateway checks it
(gateway/auth.py), docs/authorization.md tabulates it (gateway/access_table.py) and
/v1/openapi.json states it as each operation's security (gateway/openapi.py)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.authorization import Permission


@dataclass(frozen=True)
class Access:
    """Everyone, any signed-in person, CVT staff, members of the organization named in the
    path (by permission), or terminals (by API-key scope)."""

    kind: str
    permission: Permission | None = None
    scope: str | None = None

    def describe(self) -> str:
        if self.permission is not None:
            return self.permission.name
        return self.scope or self.kind

    @property
    def takes_session(self) -> bool:
        return self.kind in ("signed-in", "staff", "organization")

    @property
    def takes_api_key(self) -> bool:
        """Terminal routes, and organization routes whose permission a scope grants."""
        if self.kind == "organization":
            return self.permission is not None and bool(self.permission.scopes)
        return self.kind == "terminal"


PUBLIC = Access("public")
SIGNED_IN = Access("signed-in")
STAFF = Access("staff")


def members_who_may(permission: Permission) -> Access:
    return Access("organization", permission=permission)


def terminals_with(scope: str) -> Access:
    return Access("terminal", scope=scope)
