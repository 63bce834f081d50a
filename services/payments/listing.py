"""Who sees which payments: an organization's members who may view billing see its
payments; staff see all, filtered."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, select

from services.payments.models import Payment
from services.payments.schemas import AllPaymentsQuerySchema, PaymentQuerySchema, PaymentSchema
from shared.authorization import VIEW_BILLING, authorize, require_staff
from shared.errors import NotFound
from shared.ids import is_cuid
from shared.pagination import paginate
from shared.schemas import load
from shared.unit_of_work import UnitOfWork


def _filtered(query: dict[str, Any]) -> Select:
    statement = select(Payment)
    for name, column in (
        ("status", Payment.status),
        ("method", Payment.method),
        ("invoice_id", Payment.invoice_id),
        ("paynow_status", Payment.external_status),
        ("organization_id", Payment.organization_id),
    ):
        if name in query:
            statement = statement.where(column == query[name])
    if "from_" in query:
        statement = statement.where(
            Payment.initiated_at >= datetime.combine(query["from_"], time.min, UTC)
        )
    if "to" in query:
        # The whole day: before the next one starts.
        end = datetime.combine(query["to"], time.min, UTC) + timedelta(days=1)
        statement = statement.where(Payment.initiated_at < end)
    return statement.order_by(Payment.initiated_at.desc(), Payment.id.desc())


def _page(uow: UnitOfWork, statement: Select, query: dict[str, Any]) -> dict[str, Any]:
    return paginate(uow.session, statement, query, PaymentSchema().dump)


def list_payments(uow: UnitOfWork, organization_id: str, query: dict[str, Any]) -> dict[str, Any]:
    """The organization's payments, newest first."""
    authorize(organization_id, VIEW_BILLING)
    page = load(PaymentQuerySchema(), query)
    return _page(uow, _filtered({**page, "organization_id": organization_id}), page)


def get_payment(uow: UnitOfWork, organization_id: str, payment_id: str) -> dict[str, Any]:
    authorize(organization_id, VIEW_BILLING)
    payment = uow.session.get(Payment, payment_id) if is_cuid(payment_id) else None
    if payment is None or payment.organization_id != organization_id:
        raise NotFound("payment not found", {"payment_id": ["not found"]})
    return PaymentSchema().dump(payment)


def list_all_payments(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Staff: every payment, newest first, filtered."""
    require_staff()
    page = load(AllPaymentsQuerySchema(), query)
    return _page(uow, _filtered(page), page)
