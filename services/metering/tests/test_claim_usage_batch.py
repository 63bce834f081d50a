"""Billing runs claim the usage of a whole batch of invoices in one call: per invoice it
is what `claim_usage` gives, and as idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.metering import usage
from services.metering.tests.test_ingest_and_usage import (
    at,
    batch,
    claim,
    event,
    invoice_of_each_event,
    record,
)
from shared.errors import Forbidden, ValidationFailed
from shared.ids import cuid

PERIOD_END = datetime(2025, 4, 1, tzinfo=UTC)


def claim_batch(unit_of_work, claims: list[list[str]], period_end: datetime = PERIOD_END):
    with unit_of_work("metering") as uow:
        return usage.claim_usage_batch(uow, period_end.isoformat(), claims)


def test_a_batch_claims_each_organizations_unbilled_usage_before_period_end(
    unit_of_work, as_system
) -> None:
    first, second, idle = cuid(), cuid(), cuid()
    record(
        unit_of_work,
        batch(first, [event("a", at(2), quantity=3), event("b", at(9), "api.call", 2)]),
    )
    record(unit_of_work, batch(first, [event("late", at(1, month=4))]))  # after period end
    record(unit_of_work, batch(second, [event("c", at(30), quantity=5)]))
    invoices = {org: cuid() for org in (first, second, idle)}

    with as_system():
        totals = claim_batch(unit_of_work, [[org, invoice] for org, invoice in invoices.items()])

    assert totals == {
        invoices[first]: {"pos.transaction": 3, "api.call": 2},
        invoices[second]: {"pos.transaction": 5},
    }
    assert invoice_of_each_event(unit_of_work, first) == {
        "a": invoices[first],
        "b": invoices[first],
        "late": None,
    }
    assert invoice_of_each_event(unit_of_work, second) == {"c": invoices[second]}


def test_claiming_a_batch_again_claims_nothing_new_and_answers_the_same(
    unit_of_work, as_system
) -> None:
    org = cuid()
    record(unit_of_work, batch(org, [event("a", at(2), quantity=4)]))
    invoice = cuid()
    with as_system():
        assert claim_batch(unit_of_work, [[org, invoice]]) == {invoice: {"pos.transaction": 4}}
        record(unit_of_work, batch(org, [event("b", at(3), quantity=6)]))
        # A retried batch (its answer lost) must not add what came in since to the invoice.
        assert claim_batch(unit_of_work, [[org, invoice]]) == {invoice: {"pos.transaction": 4}}
        # As the single claim sees it: the same invoice, the same usage.
        assert claim(unit_of_work, org, PERIOD_END, invoice) == {"pos.transaction": 4}
    assert invoice_of_each_event(unit_of_work, org) == {"a": invoice, "b": None}


def test_claiming_a_batch_is_for_the_suite_and_checks_its_input(
    unit_of_work, as_user, as_system
) -> None:
    with as_user(is_staff=True), pytest.raises(Forbidden):
        claim_batch(unit_of_work, [[cuid(), cuid()]])
    with as_system():
        with pytest.raises(ValidationFailed) as caught:
            claim_batch(unit_of_work, [[cuid()]])
        assert "claims" in caught.value.fields
        with pytest.raises(ValidationFailed) as caught, unit_of_work("metering") as uow:
            usage.claim_usage_batch(uow, "2025-04-01", [[cuid(), cuid()]])
        assert "period_end" in caught.value.fields
        assert claim_batch(unit_of_work, []) == {}
