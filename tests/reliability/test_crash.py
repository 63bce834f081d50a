"""SIGKILL each process of the suite in turn under mixed load, restart it, and check that
nothing accepted was lost or done twice.

Load: a terminal ingesting usage without pause; in each round, just before the kill, a
Paynow payment (status post and poll), a billing run that has a new organization to
invoice, and a support conversation (a ticket and a staff reply, each emailed). Then the
victim is killed (no goodbye: in-flight work, unacknowledged messages, open transactions
and unsent outbox rows die with it), started again by the Supervisor, and the round's work
retried by its clients until it is answered.

Checked after the last round, once every queue is empty: every accepted usage event is
stored and in the rollups exactly once; every PAID payment was announced once and settled
once, and each invoice's amount paid is the sum of its paid payments; one invoice per
account and period, numbers gapless, and no finalized invoice changed; every email the
log calls SENT is in the mail sink exactly once, and nothing is left QUEUED.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from ops.processes import Supervisor
from services.notifications.emails import message_id
from shared import config
from shared.clock import utcnow
from tests.integration.conftest import Person, Suite
from tests.integration.payments_helpers import (
    PERIOD,
    Billed,
    billed_organizations,
    lease_to_new_organization,
)
from tests.integration.test_metering import new_key
from tests.reliability.load import (
    Tally,
    Terminal,
    Work,
    converse,
    pay,
    run_billing,
    wait_until_quiet,
)

pytestmark = pytest.mark.integration

VICTIMS: tuple[str, ...] = (*config.SERVICES, "gateway", "paynow-simulator")


def finalized_invoices(suite: Suite) -> dict[str, tuple[Any, ...]]:
    """Every finalized invoice as it must stay: number, period, amounts, dates, token and
    line items."""
    rows = suite.sql(
        "SELECT i.id, i.invoice_number, i.period_start, i.period_end, i.subtotal, i.tax, "
        "i.total, i.issued_at, i.due_at, i.payment_token, i.finalized_at, "
        "(SELECT json_agg(json_build_array(l.description, l.quantity, l.unit_price, l.total) "
        "  ORDER BY l.id) FROM billing.invoice_line_items l WHERE l.invoice_id = i.id) "
        "FROM billing.invoices i WHERE i.finalized_at IS NOT NULL"
    )
    return {row[0]: tuple(json.dumps(v, default=str) for v in row[1:]) for row in rows}


def restart(supervisor: Supervisor, victim: str) -> None:
    supervisor.kill(victim)
    assert supervisor.pid(victim) is None, f"{victim} survived SIGKILL"
    supervisor.start(victim)
    supervisor.wait_listening(victim)
    supervisor.wait_ready(timeout=90)


def payment_counts(suite: Suite, invoices: list[Billed]) -> dict[str, int]:
    """Every PAID payment of these invoices announced once (payment.paid) and settled once
    (payment.applied); each invoice's amount paid is what its PAID payments add up to."""
    ids = [billed.invoice_id for billed in invoices]
    payments = suite.sql(
        "SELECT id, invoice_id, status, amount FROM payments.payments WHERE invoice_id = ANY(:ids)",
        ids=ids,
    )
    paid = [(pid, invoice, amount) for pid, invoice, status, amount in payments if status == "PAID"]
    announced = Counter(
        row[0]
        for row in suite.sql(
            "SELECT payload->>'payment_id' FROM payments.outbox_messages "
            "WHERE event_type = 'payment.paid'"
        )
    )
    settled = Counter(
        row[0]
        for row in suite.sql(
            "SELECT payload->>'payment_id' FROM billing.outbox_messages "
            "WHERE event_type = 'payment.applied'"
        )
    )
    for payment_id, _, _ in paid:
        assert (announced[payment_id], settled[payment_id]) == (1, 1), payment_id
    paid_per_invoice = Counter()
    for _, invoice, amount in paid:
        paid_per_invoice[invoice] += amount
    amounts = dict(
        suite.sql("SELECT id, amount_paid FROM billing.invoices WHERE id = ANY(:ids)", ids=ids)
    )
    assert amounts == {i: paid_per_invoice[i] for i in ids}
    [(credits,)] = suite.sql("SELECT count(*) FROM billing.credits WHERE payment_id IS NOT NULL")
    statuses = Counter(status for _, _, status, _ in payments)
    return {
        "invoices paid in full": sum(
            1 for billed in invoices if paid_per_invoice[billed.invoice_id] == billed.total
        ),
        "payments PAID": statuses["PAID"],
        # Initiations the simulator never answered (killed meanwhile): they expire.
        "payments PENDING": statuses["PENDING"],
        "payments FAILED/CANCELLED": statuses["FAILED"] + statuses["CANCELLED"],
        "PAID payments announced once and settled once": sum(
            1 for payment_id, _, _ in paid if (announced[payment_id], settled[payment_id]) == (1, 1)
        ),
        "over-payment credits": credits,
    }


def invoice_counts(suite: Suite, before: dict[str, tuple[Any, ...]]) -> dict[str, int]:
    """One invoice per account and period; numbers unique and gapless within each year; no
    finalized invoice changed."""
    doubled = suite.sql(
        "SELECT billing_account_id, period_start, count(*) FROM billing.invoices "
        "WHERE status <> 'VOID' GROUP BY 1, 2 HAVING count(*) > 1"
    )
    assert doubled == []
    numbers = [row[0] for row in suite.sql("SELECT invoice_number FROM billing.invoices")]
    numbered = [n for n in numbers if n is not None]
    per_year: dict[str, list[int]] = {}
    for number in numbered:
        _, year, sequence = number.split("-")
        per_year.setdefault(year, []).append(int(sequence))
    for year, sequences in per_year.items():
        assert sorted(sequences) == list(range(1, len(sequences) + 1)), year
    after = finalized_invoices(suite)
    changed = [invoice for invoice, state in before.items() if after.get(invoice) != state]
    assert changed == []
    return {
        "invoices": len(numbers),
        "invoice numbers (unique, gapless)": len(numbered),
        "finalized before the faults, unchanged after": len(before),
        "accounts with two invoices for a period": len(doubled),
    }


def email_counts(suite: Suite) -> dict[str, int]:
    """The mail sink holds each SENT email of the log once: the message whose Message-ID
    names the log row (the same on every attempt of that row)."""
    logged = Counter(
        message_id(row_id)
        for (row_id,) in suite.sql("SELECT id FROM notifications.email_logs WHERE status = 'SENT'")
    )
    delivered = Counter(
        # Every email: each is to an address.
        str(message["Message-ID"])
        for message in suite.mails_to("@")
    )
    twice, missing = delivered - logged, logged - delivered
    assert twice == Counter(), f"sent twice (or never logged): {twice}"
    assert missing == Counter(), f"logged SENT, never delivered: {missing}"
    [(failed,)] = suite.sql("SELECT count(*) FROM notifications.email_logs WHERE status = 'FAILED'")
    return {
        "emails SENT in the log": sum(logged.values()),
        "emails in the mail sink": sum(delivered.values()),
        "emails delivered twice": sum(twice.values()),
        "emails FAILED (retried later)": failed,
    }


def test_every_process_killed_under_load_loses_nothing_and_doubles_nothing(
    suite: Suite, staff: Person
) -> None:
    tally = Tally()
    invoices = billed_organizations(suite, staff, count=len(VICTIMS))
    owner = invoices[0].owner
    support_org = invoices[0].org_id
    terminal = Terminal(suite, new_key(suite, owner, support_org, ["usage:write"]), tally)
    before = finalized_invoices(suite)
    work = Work()
    terminal.start()
    started = utcnow()
    for victim, billed in zip(VICTIMS, invoices, strict=True):
        lease_to_new_organization(suite, staff, owner)
        terminal.wait_for_batches(1)
        work.start(f"pay before {victim}", lambda billed=billed: pay(suite, tally, billed))
        work.start(f"billing before {victim}", lambda: run_billing(suite, tally, staff, PERIOD))
        work.start(
            f"support before {victim}",
            lambda: converse(suite, tally, owner, staff, support_org),
        )
        restart(suite.supervisor, victim)
        work.join()
        terminal.wait_for_batches(1)
    terminal.stop()
    wait_until_quiet(suite)
    faulted = utcnow() - started

    stored, rolled_up = terminal.counted()
    assert (stored, rolled_up) == (terminal.accepted, terminal.accepted)
    counts: dict[str, Any] = {
        "processes killed (SIGKILL) and restarted": len(VICTIMS),
        "seconds under load": round(faulted / timedelta(seconds=1)),
        "usage events accepted (202)": terminal.accepted,
        "usage events stored": stored,
        "usage events in the rollups": rolled_up,
        **payment_counts(suite, invoices),
        **invoice_counts(suite, before),
        **email_counts(suite),
        "answers": dict(sorted(tally.answers.items())),
        "slowest answer (s)": {k: round(v, 2) for k, v in sorted(tally.slowest.items())},
    }
    print("\ncrash test counts:\n" + json.dumps(counts, indent=2))
    assert tally.server_errors() == {}, tally.server_errors()
