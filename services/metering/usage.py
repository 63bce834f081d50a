"""Usage reports for clients, and the usage billing claims for an invoice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from services.metering.models import UsageEvent, UsageRollup
from services.metering.schemas import UsageQuerySchema, UsageReportSchema
from shared.authorization import VIEW_USAGE, authorize, require_system
from shared.schemas import load
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


def release_usage(uow: UnitOfWork, invoice_id: str) -> int:
    """Unclaim the usage of an invoice that will not be issued (a discarded draft)."""
    require_system()
    return uow.session.execute(
        update(UsageEvent).where(UsageEvent.invoice_id == invoice_id).values(invoice_id=None)
    ).rowcount
