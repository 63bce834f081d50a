"""Every event handler of the suite, fed each event of a story twice and out of order, ends
in the state it reaches when each event comes once and in order.

The broker delivers at least once and in no promised order (retries, replays of dead
letters, several publishers' outboxes). Each story below arranges a small world on the
run's database, names the events of one business situation and reads back the state the
handlers own (rows, balances, statuses, tickets, emails sent). Each test case plays it twice,
in fresh worlds: once in order (the reference), and once in one of the `orders` (every event
twice in reverse order; in reverse order followed by in order); the states must be equal.

Events go through the real entrypoints (nameko's `worker_factory`: the payload is read by
the contract and handed to the handler, which runs the domain code on the real database);
only what lies outside the consuming service (other services' RPC, SMTP) is a stand-in.

The handlers come from the code (`shared.event_catalogue.subscriptions`, which docs/events.md
is generated from): a handler that no story delivers to fails
`test_every_event_handler_is_played_twice_and_out_of_order`.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import Mock

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select

from gateway.auth import ApiKeyCache, RequestAuthenticator, SuspendedOrganizations
from gateway.service import GatewayService
from gateway.usage import UsageRecorder
from ops import database
from services.billing import accounts, billing_runs
from services.billing.events import (
    BillingAccountOverdue,
    BillingAccountReactivated,
    BillingAccountSuspended,
    BillingRunStarted,
    CreditApplied,
    CreditIssued,
    InvoiceIssued,
    InvoiceVoided,
    PaymentApplied,
)
from services.billing.models import (
    ACTIVE_RUN_STATUSES,
    AppliedPayment,
    BillingAccount,
    BillingAccountStatus,
    BillingRun,
    BillingRunItem,
    Credit,
    Invoice,
    InvoiceStatus,
    Service,
    ServiceStatus,
    ServiceType,
)
from services.billing.service import BillingService
from services.identity.events import (
    ApiKeyRevoked,
    ApiKeysUsed,
    EmailVerificationRequested,
    InvitationCreated,
    OrganizationCreated,
    OrganizationDeleted,
    PasswordResetRequested,
    SignUpAttempted,
    UserRegistered,
)
from services.identity.models import ApiKey, Organization
from services.identity.service import IdentityService
from services.metering.events import EventTypesChanged
from services.notifications.models import EmailLog
from services.notifications.service import NotificationsService
from services.payments.events import PaymentDisputed, PaymentPaid, PaymentRefunded
from services.payments.models import Payment
from services.payments.service import PaymentsService
from services.support.events import (
    SupportDailySummary,
    TicketAssigned,
    TicketCreated,
    TicketReplied,
    TicketStatusChanged,
)
from services.support.models import SupportMessage, SupportTicket
from services.support.service import SupportService
from shared import context
from shared.clock import utcnow
from shared.event_catalogue import subscriptions
from shared.events import Event
from shared.ids import cuid
from shared.tokens import new_secret
from shared.unit_of_work import UnitOfWork
from shared.waiting import wait_until

Handler = tuple[str, str]
"""(component, entrypoint method), as `shared.event_catalogue` names a subscription."""


class Store:
    """A service's `db` (its `Transactions`) on the run's database."""

    def __init__(self, service: str) -> None:
        self.service = service

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        return database.unit_of_work(self.service)


@dataclass
class World:
    """One play of a story: its own ids (by label), the workers events are delivered to,
    and the events, built once so that a repeated delivery is the same message."""

    ids: dict[str, str] = field(default_factory=dict)
    workers: dict[str, Any] = field(default_factory=dict)
    deliveries: list[tuple[Handler, Event]] = field(default_factory=list)

    def id(self, label: str) -> str:
        return self.ids.setdefault(label, cuid())

    def label(self, value: str | None) -> str | None:
        """The label of one of this world's ids (so two worlds' states compare)."""
        if value is None:
            return None
        return next((label for label, known in self.ids.items() if known == value), value)

    def deliver(self, index: int) -> None:
        (component, method), event = self.deliveries[index]
        getattr(self.workers[component], method)(event.to_payload())


@dataclass(frozen=True)
class Story:
    name: str
    arrange: Callable[[World], None]
    """Builds the world's rows, workers and deliveries."""
    state: Callable[[World], Any]
    """What the handlers own, with the world's ids replaced by their labels."""
    check: Callable[[Any], None]
    """What the reference play must have done, so that equality cannot hold vacuously."""


def orders(count: int) -> dict[str, list[int]]:
    """The out-of-order plays, by name: every event delivered twice and out of order."""
    forward = list(range(count))
    backward = forward[::-1]
    return {
        "each twice, reversed": [i for i in backward for _ in range(2)],
        "reversed, then in order": backward + forward,
    }


def play(story: Story, order_name: str | None = None) -> Any:
    """The state after delivering the story's events once in order (no `order_name`), or
    in the named order of `orders`."""
    world = World()
    context.bind(context.CallContext(actor_type=context.SYSTEM))
    story.arrange(world)
    count = len(world.deliveries)
    for index in range(count) if order_name is None else orders(count)[order_name]:
        # Each delivery is a message of its own: handlers run as the suite, as events do.
        context.bind(context.CallContext(actor_type=context.SYSTEM))
        world.deliver(index)
    return story.state(world)


# --- billing -------------------------------------------------------------------------------


def billing_worker() -> Any:
    metering = Mock()
    metering.claim_usage.return_value = {}
    metering.claim_usage_batch.call_async.return_value.result.return_value = {}
    metering.release_usage.return_value = 0
    return worker_factory(BillingService, db=Store("billing"), metering=metering, identity=Mock())


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_service(world: World, label: str, status: ServiceStatus = ServiceStatus.ACTIVE) -> None:
    with database.unit_of_work("billing") as uow:
        uow.session.add(
            Service(
                id=world.id(label),
                organization_id=world.id("organization"),
                type=ServiceType.POS_TERMINAL,
                name="Till",
                monthly_fee=3_000,
                status=status,
                activated_at=month_start(utcnow()) - timedelta(days=40),
                suspended_at=utcnow() - timedelta(days=3)
                if status == ServiceStatus.SUSPENDED
                else None,
                # As the overdue run suspends: with its account.
                suspended_with_account=status == ServiceStatus.SUSPENDED,
            )
        )


def open_account(world: World, status: BillingAccountStatus = BillingAccountStatus.ACTIVE) -> None:
    with database.unit_of_work("billing") as uow:
        accounts.open_billing_account(uow, world.id("organization"))
    with database.unit_of_work("billing") as uow:
        account = uow.session.scalar(
            select(BillingAccount).where(BillingAccount.organization_id == world.id("organization"))
        )
        account.status = status
        world.ids["account"] = account.id


def add_overdue_invoice(world: World, label: str, total: int) -> None:
    """A finalized invoice past its due date, as the billing run and the overdue run leave
    it (finalized in one INSERT: the database refuses to finalize one afterwards)."""
    issued_at = utcnow() - timedelta(days=40)
    with database.unit_of_work("billing") as uow:
        uow.session.add(
            Invoice(
                id=world.id(label),
                billing_account_id=world.ids["account"],
                invoice_number=f"TEST-{world.id(label)}",
                period_start=datetime(1998, 1, 1, tzinfo=UTC),
                period_end=datetime(1998, 2, 1, tzinfo=UTC),
                subtotal=total,
                tax=0,
                total=total,
                amount_paid=0,
                amount_due=total,
                status=InvoiceStatus.OVERDUE,
                issued_at=issued_at,
                due_at=issued_at + timedelta(days=14),
                payment_token=new_secret(),
                payment_token_expires_at=issued_at + timedelta(days=60),
                finalized_at=issued_at,
            )
        )
        uow.session.get(BillingAccount, world.ids["account"]).balance -= total


# Announced when organization.created opens the account; a deletion that overtook the
# creation opens it closed, without a word. Nothing handles the event.
UNANNOUNCED_WHEN_OVERTAKEN = "billing_account.opened"


def billing_events(world: World) -> Counter[str]:
    """How many of each event billing announced about the organization."""
    found = database.outbox_events("billing", "organization_id", world.id("organization"))
    return Counter(
        event_type for event_type, _ in found if event_type != UNANNOUNCED_WHEN_OVERTAKEN
    )


def billing_state(world: World) -> dict[str, Any]:
    organization_id = world.id("organization")
    with database.unit_of_work("billing") as uow:
        account = uow.session.scalar(
            select(BillingAccount).where(BillingAccount.organization_id == organization_id)
        )
        invoices = (
            uow.session.scalars(
                select(Invoice)
                .where(Invoice.billing_account_id == account.id)
                .order_by(Invoice.period_start)
            ).all()
            if account
            else []
        )
        services = uow.session.scalars(
            select(Service).where(Service.organization_id == organization_id)
        ).all()
        credits = (
            uow.session.scalars(select(Credit).where(Credit.billing_account_id == account.id))
            if account
            else []
        )
        applied = uow.session.scalars(
            select(AppliedPayment.payment_id).where(
                AppliedPayment.invoice_id.in_([invoice.id for invoice in invoices])
                | AppliedPayment.payment_id.in_(list(world.ids.values()))
            )
        ).all()
        deleted_at = world.ids.get("deleted_at")
        return {
            "account": account
            and (
                account.status,
                account.balance,
                account.grace_period_days,
                account.closed_at is not None and account.closed_at.isoformat() == deleted_at,
            ),
            "invoices": [
                (
                    world.label(invoice.id) if invoice.id in world.ids.values() else "new",
                    invoice.status,
                    invoice.subtotal,
                    invoice.total,
                    invoice.amount_paid,
                    invoice.amount_due,
                    invoice.invoice_number is not None,
                    invoice.paid_at is not None,
                    len(invoice.line_items),
                )
                for invoice in invoices
            ],
            "services": sorted(
                (
                    world.label(service.id),
                    service.status,
                    service.cancelled_at is not None
                    and service.cancelled_at.isoformat() == deleted_at,
                )
                for service in services
            ),
            # Which payment an over-payment's credit came from depends on the order; what
            # the account holds does not.
            "credit": sum(credit.amount for credit in credits),
            "payments counted": sorted(map(str, map(world.label, applied))),
            "announced": billing_events(world),
        }


def organization_comes_and_goes(world: World) -> None:
    """organization.deleted may overtake organization.created: the account billing opens
    for it is closed, whichever comes first."""
    organization_id = world.id("organization")
    world.workers["billing"] = billing_worker()
    deleted = OrganizationDeleted(organization_id=organization_id)
    world.ids["deleted_at"] = datetime.fromisoformat(deleted.occurred_at).isoformat()
    world.deliveries = [
        (
            ("billing", "open_account_for_new_organization"),
            OrganizationCreated(
                organization_id=organization_id,
                name="Acme Stores",
                slug=f"acme-{organization_id}",
                email="ops@acme.co.zw",
                owner_user_id=cuid(),
            ),
        ),
        (("billing", "close_account_of_deleted_organization"), deleted),
    ]


def check_closed_without_invoice(state: dict[str, Any]) -> None:
    assert state["account"] == (BillingAccountStatus.ACTIVE, 0, 14, True)
    assert state["invoices"] == []


def organization_deleted_while_leasing(world: World) -> None:
    """organization.deleted for an organization with a terminal leased since last month:
    the service is cancelled and the final invoice issued, once."""
    open_account(world)
    add_service(world, "till")
    world.workers["billing"] = billing_worker()
    deleted = OrganizationDeleted(organization_id=world.id("organization"))
    world.ids["deleted_at"] = datetime.fromisoformat(deleted.occurred_at).isoformat()
    world.deliveries = [(("billing", "close_account_of_deleted_organization"), deleted)]


def check_final_invoice(state: dict[str, Any]) -> None:
    assert state["services"] == [("till", ServiceStatus.CANCELLED, True)]
    if utcnow().day == 1:  # the month's first day is not billed before it ends
        assert state["invoices"] == []
        return
    [final] = state["invoices"]
    assert final[0] == "new" and final[1] == InvoiceStatus.ISSUED and final[6]
    assert state["announced"]["invoice.issued"] == 1


def payments_settle_a_suspended_account(world: World) -> None:
    """A suspended account's overdue invoice of 100.00 paid by 40.00 and 70.00 (10.00 too
    much), and 5.00 paid on account: the invoice is paid once, the account reactivated
    once, the excess kept as credit, whatever the order and however often each comes."""
    open_account(world, BillingAccountStatus.SUSPENDED)
    add_service(world, "till", ServiceStatus.SUSPENDED)
    add_overdue_invoice(world, "invoice", 10_000)
    world.workers["billing"] = billing_worker()

    def paid(label: str, amount: int, invoice: str | None) -> tuple[Handler, Event]:
        return (
            ("billing", "settle_paid_payment"),
            PaymentPaid(
                payment_id=world.id(label),
                invoice_id=world.id(invoice) if invoice else None,
                organization_id=world.id("organization"),
                billing_account_id=world.ids["account"],
                amount=amount,
                method="PAYNOW_ECOCASH",
            ),
        )

    world.deliveries = [
        paid("first payment", 4_000, "invoice"),
        paid("second payment", 7_000, "invoice"),
        paid("payment on account", 500, None),
    ]


def check_settled(state: dict[str, Any]) -> None:
    assert state["account"][:2] == (BillingAccountStatus.ACTIVE, 1_500)
    [invoice] = state["invoices"]
    assert invoice[1:6] == (InvoiceStatus.PAID, 10_000, 10_000, 10_000, 0)
    assert state["services"] == [("till", ServiceStatus.ACTIVE, False)]
    assert state["credit"] == 1_500
    assert state["announced"] == Counter(
        {"payment.applied": 3, "invoice.paid": 1, "billing_account.reactivated": 1}
    )


def billing_runs_started(world: World) -> None:
    """billing_run.started for two months' runs, the later one's overtaking: each month is
    invoiced once, and each run completes. (Every run bills every account of the run's
    database; each world bills months of its own, in 1990 onwards, when only its terminal
    was leased.)"""
    open_account(world)
    add_service(world, "till")
    with database.unit_of_work("billing") as uow:
        uow.session.get(Service, world.id("till")).activated_at = datetime(1980, 1, 1, tzinfo=UTC)
    world.workers["billing"] = billing_worker()
    world.deliveries = []
    for label in ("first month", "second month"):
        month = next(_run_months)
        world.ids[label] = month
        with as_staff(), database.unit_of_work("billing") as uow:
            run, _ = billing_runs.start_run(uow, {"period": month})
        world.ids[f"{label}'s run"] = run["id"]
        [(_, payload)] = database.outbox_events("billing", "run_id", run["id"])
        world.deliveries.append(
            (("billing", "work_on_started_run"), BillingRunStarted.from_payload(payload))
        )


_run_months = (f"{n // 12}-{n % 12 + 1:02d}" for n in itertools.count(1990 * 12))


@contextmanager
def as_staff() -> Iterator[None]:
    context.bind(context.CallContext(actor_type=context.USER, actor_id=cuid(), is_staff=True))
    try:
        yield
    finally:
        context.bind(context.CallContext(actor_type=context.SYSTEM))


def billing_run_state(world: World) -> dict[str, Any]:
    # The integration suite's billing processes, which share this database while the
    # session lasts, join unfinished runs too: a run one of them holds a batch of ends when
    # that batch does, so wait for the runs to end (a run that never does fails here).
    runs = [world.ids[f"{label}'s run"] for label in ("first month", "second month")]

    def still_running() -> bool:
        with database.unit_of_work("billing") as uow:
            return bool(
                uow.session.scalar(
                    select(func.count())
                    .select_from(BillingRun)
                    .where(BillingRun.id.in_(runs), BillingRun.status.in_(ACTIVE_RUN_STATUSES))
                )
            )

    wait_until(lambda: not still_running(), 60, "the story's billing runs to end")
    with database.unit_of_work("billing") as uow:
        invoices = uow.session.scalars(
            select(Invoice).where(Invoice.billing_account_id == world.ids["account"])
        ).all()
        runs = uow.session.execute(
            select(BillingRun.id, BillingRun.status, BillingRunItem.status)
            .join(BillingRunItem, BillingRunItem.run_id == BillingRun.id)
            .where(BillingRunItem.billing_account_id == world.ids["account"])
        ).all()
        account = uow.session.get(BillingAccount, world.ids["account"])
        return {
            "invoices": sorted(
                (
                    world.label(invoice.period_start.strftime("%Y-%m")),
                    invoice.status,
                    invoice.total,
                    invoice.invoice_number is not None,
                    len(invoice.line_items),
                )
                for invoice in invoices
            ),
            "runs (run, its status, the account's item)": sorted(
                (world.label(run_id), run.value, item.value) for run_id, run, item in runs
            ),
            "balance": account.balance,
        }


def check_two_months_invoiced(state: dict[str, Any]) -> None:
    """The whole monthly fee each month (3,000 cents, and tax at whatever rate is set)."""
    first, second = state["invoices"]
    assert first[:2] == ("first month", InvoiceStatus.ISSUED)
    assert second[:2] == ("second month", InvoiceStatus.ISSUED)
    assert first[2:] == second[2:] and first[2] >= 3_000 and first[3:] == (True, 1)
    assert state["balance"] == -2 * first[2]
    runs = state["runs (run, its status, the account's item)"]
    assert [(status, item) for _, status, item in runs] == [("COMPLETED", "DONE")] * 2


# --- payments ------------------------------------------------------------------------------


def credit_applied_to_two_invoices(world: World) -> None:
    """Account credit paid parts of two invoices at their finalization: one CREDIT payment
    each."""
    world.workers["payments"] = worker_factory(
        PaymentsService, db=Store("payments"), billing=Mock()
    )
    world.deliveries = [
        (
            ("payments", "record_applied_credit"),
            CreditApplied(
                invoice_id=world.id(invoice),
                invoice_number=f"INV-2026-{index:06d}",
                organization_id=world.id("organization"),
                billing_account_id=world.id("account"),
                amount=amount,
            ),
        )
        for index, (invoice, amount) in enumerate([("march", 300), ("april", 700)])
    ]


def payments_state(world: World) -> list[tuple[Any, ...]]:
    with database.unit_of_work("payments") as uow:
        payments = uow.session.scalars(
            select(Payment).where(Payment.billing_account_id == world.id("account"))
        )
        return sorted(
            (world.label(p.invoice_id), p.amount, p.method.value, p.status.value) for p in payments
        )


def check_credit_payments(state: list[tuple[Any, ...]]) -> None:
    assert state == [("april", 700, "CREDIT", "PAID"), ("march", 300, "CREDIT", "PAID")]


# --- support -------------------------------------------------------------------------------


def chargebacks_and_a_suspension(world: World) -> None:
    """A payment disputed then refunded, and the account suspended: one ticket about the
    payment with both notes, one about the suspension."""
    world.workers["support"] = worker_factory(SupportService, db=Store("support"))

    def chargeback(kind: type[PaymentDisputed] | type[PaymentRefunded]) -> Event:
        return kind(
            payment_id=world.id("payment"),
            invoice_id=world.id("invoice"),
            organization_id=world.id("organization"),
            billing_account_id=world.id("account"),
            amount=12_345,
            method="PAYNOW_ECOCASH",
            paynow_reference="PN-778899",
        )

    world.deliveries = [
        (("support", "ticket_for_disputed_payment"), chargeback(PaymentDisputed)),
        (("support", "ticket_for_refunded_payment"), chargeback(PaymentRefunded)),
        (
            ("support", "ticket_for_suspended_account"),
            BillingAccountSuspended(
                billing_account_id=world.id("account"), organization_id=world.id("organization")
            ),
        ),
    ]
    for (_, event), label in zip(
        world.deliveries, ("disputed", "refunded", "suspended"), strict=True
    ):
        world.ids[label] = event.event_id


def support_state(world: World) -> list[tuple[Any, ...]]:
    """Each ticket: what it is about, its status and priority, and the events whose notes
    it holds. (Its subject is the first event's: a refund that overtakes the dispute opens
    the ticket as a refund.)"""
    with database.unit_of_work("support") as uow:
        tickets = uow.session.scalars(
            select(SupportTicket).where(SupportTicket.organization_id == world.id("organization"))
        ).all()
        found = []
        for ticket in tickets:
            notes = uow.session.scalars(
                select(SupportMessage.event_id).where(
                    SupportMessage.ticket_id == ticket.id, SupportMessage.event_id.is_not(None)
                )
            ).all()
            about = world.label(ticket.payment_id) or ticket.origin_key.split(":")[0]
            found.append(
                (about, ticket.status.value, ticket.priority.value, sorted(map(world.label, notes)))
            )
        return sorted(found)


def check_tickets(state: list[tuple[Any, ...]]) -> None:
    assert state == [
        ("billing_account.suspended", "OPEN", "HIGH", ["suspended"]),
        ("payment", "OPEN", "HIGH", ["disputed", "refunded"]),
    ]


# --- identity ------------------------------------------------------------------------------


def api_key_use_times(world: World) -> None:
    """Two gateways' batches of lastUsedAt stamps: the later stamp wins, in any order."""
    with database.unit_of_work("identity") as uow:
        organization = Organization(
            id=world.id("organization"), name="Acme", slug=world.id("slug"), email="o@acme.zw"
        )
        uow.session.add(organization)
        uow.session.flush()
        for label in ("till key", "office key"):
            uow.session.add(
                ApiKey(
                    id=world.id(label),
                    organization_id=organization.id,
                    name=label,
                    key_hash=new_secret()[:64],
                    key_prefix="cvt_test",
                )
            )
    world.workers["identity"] = worker_factory(IdentityService, db=Store("identity"))
    earlier, later = ((utcnow() - timedelta(minutes=minutes)).isoformat() for minutes in (5, 1))
    world.ids["earlier"], world.ids["later"] = earlier, later
    world.deliveries = [
        (
            ("identity", "record_api_key_usage"),
            ApiKeysUsed(last_used={world.id("till key"): earlier, world.id("office key"): later}),
        ),
        (
            ("identity", "record_api_key_usage"),
            ApiKeysUsed(last_used={world.id("till key"): later}),
        ),
    ]


def identity_state(world: World) -> list[tuple[Any, ...]]:
    with database.unit_of_work("identity") as uow:
        keys = uow.session.scalars(
            select(ApiKey).where(ApiKey.organization_id == world.id("organization"))
        )
        return sorted((world.label(k.id), world.label(k.last_used_at.isoformat())) for k in keys)


def check_latest_use(state: list[tuple[Any, ...]]) -> None:
    assert state == [("office key", "later"), ("till key", "later")]


# --- notifications -------------------------------------------------------------------------


def notifications_worker(world: World) -> Any:
    identity = Mock()
    identity.issue_email_token.return_value = {
        "token": "email-token", "email": "tendai@acme.co.zw", "name": "Tendai",
    }  # fmt: skip
    identity.issue_invitation_token.return_value = {
        "token": "invitation-token",
        "email": "rudo@acme.co.zw",
    }
    identity.billing_contacts.return_value = {
        "organization": {"id": world.id("organization"), "name": "Acme", "email": "o@acme.zw"},
        "people": [{"email": "tendai@acme.co.zw", "name": "Tendai", "role": "OWNER"}],
    }
    identity.contact_addresses.return_value = [{"email": "agent@cvt.co.zw", "name": "Agent"}]
    identity.get_organization.return_value = {"email": "o@acme.zw"}
    billing = Mock()
    billing.payment_token.return_value = "pay-token"
    billing.get_invoice.return_value = {"invoice_number": "INV-2026-000042", "total": 10_000}
    support = Mock()
    support.ticket_recipients.return_value = {
        "user_ids": [world.id("member")], "organization_id": world.id("organization"),
    }  # fmt: skip
    world.workers["mailer"] = mailer = Mock()
    return worker_factory(
        NotificationsService,
        db=Store("notifications"),
        mailer=mailer,
        identity=identity,
        billing=billing,
        support=support,
    )


def everyone_is_told(world: World) -> None:
    """One event of each kind notifications emails about, the receipt before the invoice
    email (payment.applied overtaking invoice.issued) and the reactivation before the
    suspension: one email each, whatever the order and however often each comes."""
    world.workers["notifications"] = notifications_worker(world)
    organization, user, ticket = (world.id(x) for x in ("organization", "user", "ticket"))
    invoice, account = world.id("invoice"), world.id("account")
    on_ticket = {"ticket_id": ticket, "organization_id": organization, "subject": "Offline"}
    events: list[tuple[str, Event]] = [
        ("send_receipt_email", PaymentApplied(
            payment_id=world.id("payment"), invoice_id=invoice, invoice_number="INV-2026-000042",
            organization_id=organization, method="PAYNOW_ECOCASH", amount=4_000, applied=4_000,
            credited=0, amount_due=6_000, invoice_status="PARTIAL",
        )),
        ("send_invoice_email", InvoiceIssued(
            invoice_id=invoice, invoice_number="INV-2026-000042", organization_id=organization,
            billing_account_id=account, total=10_000, amount_due=10_000,
            due_at=utcnow().isoformat(),
        )),
        ("send_reactivation_notice", BillingAccountReactivated(
            billing_account_id=account, organization_id=organization,
        )),
        ("send_suspension_notice", BillingAccountSuspended(
            billing_account_id=account, organization_id=organization,
        )),
        ("send_overdue_warning", BillingAccountOverdue(
            billing_account_id=account, organization_id=organization,
        )),
        ("send_credit_email", CreditIssued(
            credit_id=world.id("credit"), organization_id=organization, amount=1_500,
        )),
        ("send_voided_invoice_email", InvoiceVoided(
            invoice_id=world.id("void invoice"), organization_id=organization,
        )),
        ("send_verification_email", UserRegistered(
            user_id=user, email="tendai@acme.co.zw", name="Tendai",
        )),
        ("resend_verification_email", EmailVerificationRequested(
            user_id=user, email="tendai@acme.co.zw",
        )),
        ("send_password_reset_email", PasswordResetRequested(
            user_id=user, email="tendai@acme.co.zw",
        )),
        ("send_sign_up_attempted_email", SignUpAttempted(
            user_id=user, email="tendai@acme.co.zw",
        )),
        ("send_invitation_email", InvitationCreated(
            invitation_id=world.id("invitation"), organization_id=organization,
            organization_name="Acme", email="rudo@acme.co.zw", role="BILLING",
        )),
        ("send_new_ticket_email", TicketCreated(
            **on_ticket, priority="HIGH", ticket_source="member", opened_by_id=world.id("member"),
        )),
        ("send_ticket_reply_email", TicketReplied(
            **on_ticket, message_id=world.id("reply"), message="On its way.", by_staff=True,
            sender_id=world.id("agent"),
        )),
        ("send_ticket_status_email", TicketStatusChanged(
            **on_ticket, old_status="IN_PROGRESS", new_status="RESOLVED", reopened=False,
        )),
        ("send_ticket_assigned_email", TicketAssigned(
            **on_ticket, assigned_to_id=world.id("agent"),
        )),
        ("send_support_summary_email", SupportDailySummary(
            day=utcnow().date().isoformat(), open=3, breached=1, unassigned=2,
        )),
    ]  # fmt: skip
    world.deliveries = [(("notifications", method), event) for method, event in events]
    for method, event in events:
        world.ids[method] = event.event_id


def notifications_state(world: World) -> dict[str, Any]:
    event_ids = [event.event_id for _, event in world.deliveries]
    with database.unit_of_work("notifications") as uow:
        rows = uow.session.scalars(select(EmailLog).where(EmailLog.event_id.in_(event_ids)))
        logged = sorted(
            (world.label(row.event_id), row.template, row.status.value, row.attempts, row.to)
            for row in rows
        )
    sent = Counter(call.args[1] for call in world.workers["mailer"].send.call_args_list)
    return {"email log": logged, "sent (subject: times)": sorted(sent.items())}


def check_one_email_each(state: dict[str, Any]) -> None:
    assert len(state["email log"]) == len(NOTIFICATIONS_HANDLERS)
    assert {status for _, _, status, _, _ in state["email log"]} == {"SENT"}
    assert {attempts for _, _, _, attempts, _ in state["email log"]} == {1}
    assert sum(times for _, times in state["sent (subject: times)"]) == len(NOTIFICATIONS_HANDLERS)


NOTIFICATIONS_HANDLERS = {s.method for s in subscriptions() if s.component == "notifications"}


# --- the gateway's caches (BROADCAST) ------------------------------------------------------


def gateway_worker(world: World) -> Any:
    provider = SimpleNamespace(
        cache=ApiKeyCache(), suspended=SuspendedOrganizations(), limiter=None
    )
    # Loaded a moment ago: the events, not the minute's reload, decide.
    provider.suspended._loaded_at = float("inf")
    usage = UsageRecorder()
    usage._event_types = (frozenset({"pos.transaction"}), float("inf"))
    world.workers["gateway caches"] = provider
    world.workers["gateway usage"] = usage
    return worker_factory(GatewayService, auth=RequestAuthenticator(provider, None), usage=usage)


def gateway_forgets(world: World) -> None:
    """A revoked API key and a changed event type are forgotten, in any order."""
    world.workers["gateway"] = gateway_worker(world)
    cache: ApiKeyCache = world.workers["gateway caches"].cache
    for label in ("revoked key", "other key"):
        cache.lookup(label, lambda key_hash: {"id": world.id(key_hash)})
    world.deliveries = [
        (
            ("gateway", "forget_revoked_api_key"),
            ApiKeyRevoked(api_key_id=world.id("revoked key"), organization_id=world.id("org")),
        ),
        (("gateway", "forget_event_types"), EventTypesChanged(name="pos.refund")),
    ]


def gateway_cache_state(world: World) -> dict[str, Any]:
    cache: ApiKeyCache = world.workers["gateway caches"].cache
    names, expires = world.workers["gateway usage"]._event_types
    return {
        "cached keys": sorted(cache._entries),
        "event types cached": (sorted(names), expires == float("inf")),
    }


def check_forgotten(state: dict[str, Any]) -> None:
    assert state == {"cached keys": ["other key"], "event types cached": ([], False)}


def gateway_suspends_and_admits(world: World) -> None:
    """billing_account.suspended, then billing_account.reactivated once the account paid:
    the gateway admits the organization's terminals again, whichever event comes last."""
    world.workers["gateway"] = gateway_worker(world)
    about = {"billing_account_id": world.id("account"), "organization_id": world.id("org")}
    world.deliveries = [
        (("gateway", "refuse_suspended_organization"), BillingAccountSuspended(**about)),
        (("gateway", "admit_reactivated_organization"), BillingAccountReactivated(**about)),
    ]


def gateway_suspension_state(world: World) -> bool:
    """Whether the gateway refuses the organization's terminals."""
    suspended: SuspendedOrganizations = world.workers["gateway caches"].suspended
    return suspended.contains(world.id("org"), lambda: pytest.fail("reloaded"))


def check_admitted(state: bool) -> None:
    assert state is False


# --- the stories ---------------------------------------------------------------------------

STORIES = [
    Story("organization created and deleted", organization_comes_and_goes, billing_state,
          check_closed_without_invoice),
    Story("organization deleted while leasing", organization_deleted_while_leasing,
          billing_state, check_final_invoice),
    Story("billing runs started", billing_runs_started, billing_run_state,
          check_two_months_invoiced),
    Story("payments settle a suspended account", payments_settle_a_suspended_account,
          billing_state, check_settled),
    Story("credit applied to two invoices", credit_applied_to_two_invoices, payments_state,
          check_credit_payments),
    Story("chargebacks and a suspension", chargebacks_and_a_suspension, support_state,
          check_tickets),
    Story("API keys used, batches crossing", api_key_use_times, identity_state,
          check_latest_use),
    Story("everyone is told", everyone_is_told, notifications_state, check_one_email_each),
    Story("the gateway forgets", gateway_forgets, gateway_cache_state, check_forgotten),
    Story("the gateway suspends and admits", gateway_suspends_and_admits,
          gateway_suspension_state, check_admitted),
]  # fmt: skip


def delivered_handlers(story: Story) -> set[Handler]:
    world = World()
    story.arrange(world)
    return {handler for handler, _ in world.deliveries}


def cases() -> Iterator[Any]:
    for story in STORIES:
        for order_name in orders(2):
            yield pytest.param(story, order_name, id=f"{story.name}: {order_name}")


def test_every_event_handler_is_played_twice_and_out_of_order(unit_of_work: Any) -> None:
    registered = {(s.component, s.method) for s in subscriptions()}
    played = set(itertools.chain.from_iterable(delivered_handlers(s) for s in STORIES))
    assert registered - played == set(), "handlers no story delivers to"
    assert played - registered == set(), "stories deliver to what is no handler"


@pytest.mark.parametrize(("story", "order_name"), list(cases()))
def test_twice_and_out_of_order_ends_as_once_in_order(
    unit_of_work: Any, story: Story, order_name: str
) -> None:
    reference = play(story)
    story.check(reference)

    assert play(story, order_name) == reference
