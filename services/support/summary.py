"""Where support stands, for staff: on request, and once a day as `support.daily_summary`
(emailed to the support team) after the hour set in `daily_summary.hour_utc` (default
SUPPORT_SUMMARY_HOUR_UTC; see services.support.settings).

Every replica's timer checks every hour; the day's row in daily_summaries is inserted by
the first one only (`ON CONFLICT DO NOTHING`), in the transaction that emits the event,
so the summary goes out once per day across replicas and restarts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from services.support.events import SupportDailySummary
from services.support.models import OPEN_STATUSES, DailySummary, SupportPriority, SupportTicket
from services.support.schemas import SupportSummarySchema
from services.support.search import breached
from shared.authorization import require_staff, require_system
from shared.clock import utcnow
from shared.unit_of_work import Transactions, UnitOfWork


def _summary(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
    is_open = SupportTicket.status.in_(OPEN_STATUSES)
    counts = uow.session.execute(
        select(
            func.count(),
            func.count().filter(breached(now)),
            func.count().filter(SupportTicket.assigned_to_id.is_(None)),
        ).where(is_open)
    ).one()
    by_priority = dict.fromkeys((priority.value for priority in SupportPriority), 0)
    for priority, count in uow.session.execute(
        select(SupportTicket.priority, func.count()).where(is_open).group_by(SupportTicket.priority)
    ):
        by_priority[priority.value] = count
    oldest = uow.session.scalars(
        select(SupportTicket)
        .where(is_open)
        .order_by(SupportTicket.created_at, SupportTicket.id)
        .limit(1)
    ).first()
    return {
        "open": counts[0],
        "breached": counts[1],
        "unassigned": counts[2],
        "by_priority": by_priority,
        "oldest": None
        if oldest is None
        else {
            "ticket_id": oldest.id,
            "subject": oldest.subject,
            "organization_id": oldest.organization_id,
            "created_at": oldest.created_at,
        },
        "generated_at": now,
    }


def support_summary(uow: UnitOfWork) -> dict[str, Any]:
    require_staff()
    return SupportSummarySchema().dump(_summary(uow, utcnow()))


def send_daily_summary(store: Transactions, hour: int, now: datetime | None = None) -> bool:
    """Emit today's summary if it is past `hour` (UTC) and nobody has yet. Returns whether
    this call sent it."""
    require_system()
    now = now or utcnow()
    if now.hour < hour:
        return False
    day = now.date()
    with store.transaction() as uow:
        claimed = uow.session.scalar(
            insert(DailySummary)
            .values(day=day, sent_at=now)
            .on_conflict_do_nothing(index_elements=["day"])
            .returning(DailySummary.day)
        )
        if claimed is None:
            return False
        summary = _summary(uow, now)
        oldest = summary["oldest"]
        uow.emit(
            SupportDailySummary(
                day=day.isoformat(),
                open=summary["open"],
                breached=summary["breached"],
                unassigned=summary["unassigned"],
                oldest_ticket_id=oldest and oldest["ticket_id"],
                oldest_subject=oldest and oldest["subject"],
                oldest_created_at=oldest and oldest["created_at"].isoformat(),
            )
        )
        uow.audit(
            "support.daily_summary_sent",
            "DailySummary",
            day.isoformat(),
            {key: summary[key] for key in ("open", "breached", "unassigned")},
        )
        return True
