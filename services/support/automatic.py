"""Tickets that open themselves, so staff act before the client calls: a Paynow payment
disputed or refunded, a billing account suspended.

Each event opens a ticket (source "system", HIGH) or, when the organization already has
an open ticket about the same thing, adds to it. The ticket's subject and description are
plain and safe for the client, who sees the ticket; what staff need (ids, Paynow's
reference, the event) goes in an internal note.

Once per event: the note carries the event id (unique), inserted with ON CONFLICT DO
NOTHING; when it inserts nothing the event was handled before, and the transaction is
rolled back (with the ticket it may have opened, if the first one was resolved since).
Events about the same thing are handled one at a time (a transaction-scoped advisory lock
on it), so two of them arriving together add to one ticket rather than opening two."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import insert

from services.billing.events import BillingAccountSuspended
from services.payments.events import PaymentDisputed, PaymentRefunded, PaynowChargeback
from services.support.models import (
    OPEN_STATUSES,
    SYSTEM_SENDER,
    SupportMessage,
    SupportPriority,
    SupportTicket,
    TicketSource,
)
from services.support.response_targets import ResponseTargets
from services.support.tickets import create
from shared.authorization import require_system
from shared.clock import utcnow
from shared.ids import cuid
from shared.money import format_cents
from shared.unit_of_work import Transactions


class Outcome(enum.Enum):
    OPENED = "ticket opened"
    ADDED = "note added to the open ticket"
    REPEATED = "already handled (repeated event)"


@dataclass(frozen=True)
class Draft:
    """The ticket to open if none is open about the same thing."""

    organization_id: str
    subject: str
    description: str
    origin_key: str
    about: dict[str, str]


class _Repeated(Exception):
    """The event's note exists: undo whatever this transaction did (a ticket it opened)."""


def open_or_add(
    store: Transactions,
    *,
    event_id: str,
    draft: Draft,
    lock_key: str,
    same_thing: ColumnElement[bool],
    note: str,
    targets: ResponseTargets,
) -> Outcome:
    require_system()
    try:
        with store.transaction() as uow:
            session = uow.session
            session.execute(select(func.pg_advisory_xact_lock(func.hashtext(lock_key))))
            ticket = session.scalars(
                select(SupportTicket)
                .where(
                    SupportTicket.organization_id == draft.organization_id,
                    SupportTicket.status.in_(OPEN_STATUSES),
                    same_thing,
                )
                .order_by(SupportTicket.created_at, SupportTicket.id)
                .limit(1)
                .with_for_update()
            ).first()
            outcome = Outcome.ADDED
            if ticket is None:
                outcome = Outcome.OPENED
                ticket = create(
                    uow,
                    organization_id=draft.organization_id,
                    subject=draft.subject,
                    description=draft.description,
                    priority=SupportPriority.HIGH,
                    source=TicketSource.SYSTEM,
                    origin_key=draft.origin_key,
                    targets=targets,
                    **draft.about,
                )
            note_id = session.scalar(
                insert(SupportMessage)
                .values(
                    id=cuid(),
                    ticket_id=ticket.id,
                    sender_id=SYSTEM_SENDER,
                    sender_is_staff=True,
                    message=note,
                    is_internal=True,
                    event_id=event_id,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(SupportMessage.id)
            )
            if note_id is None:
                raise _Repeated
            uow.audit(
                "ticket.note_added",
                "SupportTicket",
                ticket.id,
                {"message_id": note_id, "by_staff": True, "event_id": event_id},
                organization_id=ticket.organization_id,
            )
            return outcome
    except _Repeated:
        return Outcome.REPEATED


def _method(method: str) -> str:
    """PAYNOW_ECOCASH → "Ecocash": the method in words a client reads."""
    return method.removeprefix("PAYNOW_").replace("_", " ").title()


def _chargeback_note(event: PaynowChargeback, what: str) -> str:
    return (
        f"Automatic: Paynow reports payment {event.payment_id} {what}. "
        f"Paynow reference: {event.paynow_reference}. Amount: {format_cents(event.amount)} "
        f"({event.method}). Invoice: {event.invoice_id or 'none (paid on account)'}. "
        f"Billing account: {event.billing_account_id}. Event: {event.event_id}."
    )


def payment_disputed(
    store: Transactions, event: PaymentDisputed, targets: ResponseTargets
) -> Outcome:
    amount = format_cents(event.amount)
    return _chargeback(
        store,
        event,
        targets,
        kind="payment.disputed",
        subject=f"Payment under dispute: {amount}",
        description=(
            f"A dispute was raised with Paynow about your payment of {amount} "
            f"({_method(event.method)}). Our support team is looking into it and will "
            "contact you on this ticket."
        ),
        note=_chargeback_note(event, "DISPUTED"),
    )


def payment_refunded(
    store: Transactions, event: PaymentRefunded, targets: ResponseTargets
) -> Outcome:
    amount = format_cents(event.amount)
    return _chargeback(
        store,
        event,
        targets,
        kind="payment.refunded",
        subject=f"Payment refunded: {amount}",
        description=(
            f"Paynow reports that your payment of {amount} ({_method(event.method)}) was "
            "refunded to the payer. Our support team is checking what this means for your "
            "account and will contact you on this ticket."
        ),
        note=_chargeback_note(event, "REFUNDED"),
    )


def _chargeback(
    store: Transactions,
    event: PaynowChargeback,
    targets: ResponseTargets,
    *,
    kind: str,
    subject: str,
    description: str,
    note: str,
) -> Outcome:
    """Any open ticket of the organization about the payment gets the note (one a member
    opened too: staff see it there)."""
    about: dict[str, Any] = {"payment_id": event.payment_id}
    return open_or_add(
        store,
        event_id=event.event_id,
        draft=Draft(
            organization_id=event.organization_id,
            subject=subject,
            description=description,
            origin_key=f"{kind}:{event.payment_id}",
            about=about,
        ),
        lock_key=f"payment:{event.payment_id}",
        same_thing=SupportTicket.payment_id == event.payment_id,
        note=note,
        targets=targets,
    )


def account_suspended(
    store: Transactions, event: BillingAccountSuspended, targets: ResponseTargets
) -> Outcome:
    origin_key = f"billing_account.suspended:{event.organization_id}"
    return open_or_add(
        store,
        event_id=event.event_id,
        draft=Draft(
            organization_id=event.organization_id,
            subject="Account suspended",
            description=(
                "Your account was suspended because an invoice is past due beyond the grace "
                "period, and your terminals are refused until it is paid. Our support team "
                "will contact you on this ticket to help you settle it."
            ),
            origin_key=origin_key,
            about={},
        ),
        lock_key=origin_key,
        same_thing=SupportTicket.origin_key == origin_key,
        note=(
            f"Automatic: billing suspended billing account {event.billing_account_id} "
            f"(organization {event.organization_id}). Event: {event.event_id}."
        ),
        targets=targets,
    )
