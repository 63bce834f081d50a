"""Usage reports for clients, and the usage billing claims for an invoice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import Select, String, column, func, select, text, update, values

from services.metering.models import UsageEvent, UsageRollup
from services.metering.schemas import UsageQuerySchema, UsageReportSchema
from shared.authorization import VIEW_USAGE, authorize, require_system
from shared.db import CUID_LENGTH
from shared.schemas import BoundedDateTime, StrictSchema, load
from shared.unit_of_work import UnitOfWork


def usage_report(uow: UnitOfWork, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
    """Usage in [from, to), hour precision (rollups), grouped by day, event type or API
    key; or by invoice (which invoice each usage was billed on; None = not billed yet)."""
    authorize(organization_id, VIEW_USAGE)
    params = load(UsageQuerySchema(), query)
    group_by = params["group_by"]
    if group_by == "invoice":
        rows = _by_invoice(uow, organization_id, params["from_"], params["to"])
    else:
        rows = _from_rollups(uow, organization_id, params["from_"], params["to"], group_by)
    return UsageReportSchema().dump(
        {"organization_id": organization_id, "group_by": group_by, "rows": rows}
    )


def _from_rollups(
    uow: UnitOfWork, organization_id: str, start: datetime, end: datetime, group_by: str
) -> list[dict[str, Any]]:
    key = {
        "day": func.date(func.timezone("UTC", UsageRollup.hour)).label("day"),
        "event_type": UsageRollup.event_type.label("event_type"),
        "api_key": func.nullif(UsageRollup.api_key_id, "").label("api_key_id"),
    }[group_by]
    statement = (
        select(key, func.sum(UsageRollup.quantity), func.sum(UsageRollup.events))
        .where(
            UsageRollup.organization_id == organization_id,
            UsageRollup.hour >= func.date_trunc("hour", start),
            UsageRollup.hour < end,
        )
        .group_by(key)
        .order_by(key)
    )
    return [
        {key.name: value, "quantity": int(quantity), "events": int(events)}
        for value, quantity, events in uow.session.execute(statement)
    ]


def _by_invoice(
    uow: UnitOfWork, organization_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    statement = (
        select(
            UsageEvent.invoice_id,
            UsageEvent.event_type,
            func.sum(UsageEvent.quantity),
            func.count(),
        )
        .where(
            UsageEvent.organization_id == organization_id,
            UsageEvent.timestamp >= start,
            UsageEvent.timestamp < end,
        )
        .group_by(UsageEvent.invoice_id, UsageEvent.event_type)
        .order_by(UsageEvent.invoice_id.nulls_last(), UsageEvent.event_type)
    )
    return [
        {"invoice_id": invoice_id, "event_type": event_type, "quantity": int(q), "events": int(n)}
        for invoice_id, event_type, q, n in uow.session.execute(statement)
    ]


def claim_usage(
    uow: UnitOfWork, organization_id: str, period_end: str, invoice_id: str
) -> dict[str, int]:
    """Give `invoice_id` every unbilled event of the organization before `period_end` —
    late events of an already invoiced period included — and return its totals per event
    type. Calling again for the same invoice claims nothing more and returns the same."""
    require_system()
    _lock_organizations(uow, [organization_id])
    already = uow.session.scalar(select(func.count()).where(UsageEvent.invoice_id == invoice_id))
    if not already:
        uow.session.execute(
            update(UsageEvent)
            .where(
                UsageEvent.organization_id == organization_id,
                UsageEvent.invoice_id.is_(None),
                UsageEvent.timestamp < datetime.fromisoformat(period_end),
            )
            .values(invoice_id=invoice_id)
        )
    totals = uow.session.execute(
        select(UsageEvent.event_type, func.sum(UsageEvent.quantity))
        .where(UsageEvent.invoice_id == invoice_id)
        .group_by(UsageEvent.event_type)
    )
    return {event_type: int(quantity) for event_type, quantity in totals}


# A billing batch's invoices; far more than any batch size billing uses.
MAX_CLAIMS = 2_000
_ID = fields.String(validate=validate.Length(min=1, max=CUID_LENGTH))


class UsageClaimBatchSchema(StrictSchema):
    period_end = BoundedDateTime(required=True)
    claims = fields.List(
        fields.Tuple((_ID, _ID)), required=True, validate=validate.Length(max=MAX_CLAIMS)
    )


def claim_usage_batch(
    uow: UnitOfWork, period_end: str, claims: list[list[str]]
) -> dict[str, dict[str, int]]:
    """`claim_usage` for many invoices at once: `claims` is [organization id, invoice id]
    pairs; returns each invoice's totals per event type (invoices without usage left out)."""
    require_system()
    wanted = load(UsageClaimBatchSchema(), {"period_end": period_end, "claims": claims})
    pairs = {invoice_id: organization_id for organization_id, invoice_id in wanted["claims"]}
    if not pairs:
        return {}
    _lock_organizations(uow, pairs.values())
    already = list(
        uow.session.scalars(
            select(UsageEvent.invoice_id).where(UsageEvent.invoice_id.in_(list(pairs))).distinct()
        )
    )
    fresh = [(org, invoice) for invoice, org in pairs.items() if invoice not in set(already)]
    totals: dict[str, dict[str, int]] = {}
    if fresh:
        claiming = values(
            column("organization_id", String), column("invoice_id", String), name="claims"
        ).data(fresh)
        claimed = (
            update(UsageEvent)
            .where(
                UsageEvent.organization_id == claiming.c.organization_id,
                UsageEvent.invoice_id.is_(None),
                UsageEvent.timestamp < wanted["period_end"],
            )
            .values(invoice_id=claiming.c.invoice_id)
            .returning(UsageEvent.invoice_id, UsageEvent.event_type, UsageEvent.quantity)
            .cte("claimed")
        )
        _add_totals(
            totals,
            select(claimed.c.invoice_id, claimed.c.event_type, func.sum(claimed.c.quantity))
            .group_by(claimed.c.invoice_id, claimed.c.event_type),
            uow,
        )  # fmt: skip
    if already:
        _add_totals(
            totals,
            select(UsageEvent.invoice_id, UsageEvent.event_type, func.sum(UsageEvent.quantity))
            .where(UsageEvent.invoice_id.in_(already))
            .group_by(UsageEvent.invoice_id, UsageEvent.event_type),
            uow,
        )  # fmt: skip
    return totals


def _add_totals(totals: dict[str, dict[str, int]], statement: Select, uow: UnitOfWork) -> None:
    for invoice_id, event_type, quantity in uow.session.execute(statement):
        totals.setdefault(invoice_id, {})[event_type] = int(quantity)


# The first key of the advisory locks that serialize claims per organization.
CLAIM_LOCKS = 13_001


def _lock_organizations(uow: UnitOfWork, organization_ids: Iterable[str]) -> None:
    """Claims of the same organization take turns, and take their organizations' locks in
    one order (sorted ids): two claims never wait for each other's rows in a cycle. A
    lock per organization costs nothing on the rows, unlike `FOR UPDATE` on each event."""
    uow.session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(:space, hashtext(organization_id))) "
            "FROM unnest(CAST(:organizations AS text[])) AS organization_id"
        ),
        {"space": CLAIM_LOCKS, "organizations": sorted(set(organization_ids))},
    )


def release_usage(uow: UnitOfWork, invoice_id: str) -> int:
    """Unclaim the usage of an invoice that will not be issued (a discarded draft)."""
    require_system()
    return uow.session.execute(
        update(UsageEvent).where(UsageEvent.invoice_id == invoice_id).values(invoice_id=None)
    ).rowcount
