"""Staff views (all invoices, all services), the account ledger, terms changes, the grace
period, the price table, and closing the account of a deleted organization.

Every organization is new; runs are asked about months no other test module bills (1996,
1997) or about this month and the next for an account of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from services.billing import (
    accounts,
    billing_runs,
    catalog,
    closing,
    invoicing,
    ledger,
    settings,
    settlement,
)
from services.billing.models import (
    BillingAccount,
    BillingRunItem,
    Invoice,
    InvoiceStatus,
    Service,
    ServiceStatus,
    ServiceType,
)
from services.billing.tests.test_payment_links import Store
from services.billing.tests.test_settlement_and_overdue import (
    UnitOfWorkFactory,
    make_account,
    make_invoice,
    pay,
    pay_on_account,
)
from shared.authorization import MemberRole
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.ids import cuid


def no_usage(organization_id: str, period_end: str, invoice_id: str) -> dict[str, int]:
    return {}


def released(invoice_id: str) -> int:
    return 0


def lease(
    unit_of_work: UnitOfWorkFactory,
    account: BillingAccount,
    *,
    fee: int = 3_000,
    activated_at: datetime,
    serial: str | None = None,
    status: ServiceStatus = ServiceStatus.ACTIVE,
) -> str:
    with unit_of_work("billing") as uow:
        service = Service(
            organization_id=account.organization_id,
            type=ServiceType.POS_TERMINAL,
            name="Till",
            monthly_fee=fee,
            activated_at=activated_at,
            hardware_serial=serial,
            status=status,
            suspended_at=activated_at if status == ServiceStatus.SUSPENDED else None,
        )
        uow.session.add(service)
    return service.id


def bill(
    unit_of_work: UnitOfWorkFactory, account: BillingAccount, period: invoicing.Period
) -> Invoice:
    outcome = invoicing.invoice_account(
        Store(unit_of_work), account.id, account.organization_id, period, no_usage, released
    )
    assert outcome["result"] == "invoiced", outcome
    with unit_of_work("billing") as uow:
        invoice = uow.session.scalar(
            select(Invoice).where(
                Invoice.billing_account_id == account.id, Invoice.period_start == period.start
            )
        )
        invoice.line_items  # noqa: B018 - loaded for after the session
        return invoice


def balance_of(unit_of_work: UnitOfWorkFactory, account: BillingAccount) -> int:
    with unit_of_work("billing") as uow:
        return uow.session.get(BillingAccount, account.id).balance


def audit_rows(unit_of_work: UnitOfWorkFactory, entity_id: str, action: str) -> list[Any]:
    with unit_of_work("billing") as uow:
        audit = uow.tables.audit_log
        return list(
            uow.session.scalars(
                select(audit).where(audit.entity_id == entity_id, audit.action == action)
            )
        )


# --- the ledger ----------------------------------------------------------------------------


def whole_ledger(unit_of_work, as_user, organization_id: str) -> list[dict[str, Any]]:
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        return ledger.account_ledger(uow, organization_id, {"limit": 200})["items"]


def test_the_ledger_explains_the_balance_line_by_line(unit_of_work, as_user, as_system) -> None:
    account = make_account(unit_of_work)
    org_id = account.organization_id
    lease(unit_of_work, account, activated_at=datetime(1995, 1, 1, tzinfo=UTC))
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        credit = settlement.issue_credit(uow, org_id, {"amount": 500, "reason": "goodwill"})
    first = bill(unit_of_work, account, invoicing.Period.month("1996-01"))  # 500 credit used
    with as_system():
        pay(unit_of_work, first.id, 1_000)  # partial
        over = cuid()
        pay(unit_of_work, first.id, 2_000, over)  # 1,500 due: 500 over
    second = bill(unit_of_work, account, invoicing.Period.month("1996-02"))  # 500 credit used
    with as_system():
        pay(unit_of_work, second.id, 2_500)
    third = bill(unit_of_work, account, invoicing.Period.month("1996-03"))
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        invoicing.void_invoice(uow, third.id)
    with as_system():
        on_account = cuid()
        pay_on_account(unit_of_work, account, 4_000, on_account)
        pay(unit_of_work, third.id, 100)  # a void invoice's payment is all credit

    lines = whole_ledger(unit_of_work, as_user, org_id)

    assert [(line["kind"], line["amount"]) for line in lines] == [
        ("credit", 500),
        ("invoice", -3_000),
        ("payment", 1_000),
        ("payment", 1_500),
        ("over_payment", 500),
        ("invoice", -3_000),
        ("payment", 2_500),
        ("invoice", -3_000),
        ("void", 3_000),
        ("on_account", 4_000),
        ("over_payment", 100),
    ]
    running = 0
    for line in lines:
        running += line["amount"]
        assert line["balance_after"] == running
    assert lines[-1]["balance_after"] == balance_of(unit_of_work, account) == 4_100
    assert first.amount_paid == second.amount_paid == 500  # credit used at finalization
    assert lines[0]["credit_id"] == credit["id"]
    assert (lines[4]["payment_id"], lines[4]["invoice_id"]) == (over, first.id)
    assert lines[9]["payment_id"] == on_account and lines[9]["credit_id"]
    assert lines[1]["invoice_number"] == first.invoice_number
    assert lines[8]["description"] == f"Invoice {third.invoice_number} voided"


def test_ledger_pages_carry_the_running_balance(unit_of_work, as_user, as_system) -> None:
    account = make_account(unit_of_work)
    for _ in range(3):
        invoice_id = make_invoice(unit_of_work, account, total=1_000)
        with as_system():
            pay(unit_of_work, invoice_id, 400)
    whole = whole_ledger(unit_of_work, as_user, account.organization_id)
    pages = []
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        for offset in range(0, 6, 4):
            page = ledger.account_ledger(
                uow, account.organization_id, {"limit": 4, "offset": offset}
            )
            assert page["total"] == 6
            pages += page["items"]
    assert pages == whole
    assert whole[-1]["balance_after"] == balance_of(unit_of_work, account) == -1_800


def test_the_ledger_is_for_staff_and_members_who_view_billing(unit_of_work, as_user) -> None:
    account = make_account(unit_of_work)
    org_id = account.organization_id
    for role in (MemberRole.OWNER, MemberRole.ADMIN, MemberRole.BILLING):
        with as_user(org_id, role), unit_of_work("billing") as uow:
            assert ledger.account_ledger(uow, org_id, {})["total"] == 0
    with (
        as_user(org_id, MemberRole.MEMBER),
        pytest.raises(Forbidden),
        unit_of_work("billing") as uow,
    ):
        ledger.account_ledger(uow, org_id, {})
    with (
        as_user(cuid(), MemberRole.OWNER),
        pytest.raises(NotFound),
        unit_of_work("billing") as uow,
    ):
        ledger.account_ledger(uow, org_id, {})


# --- staff views -------------------------------------------------------------------------


def test_staff_list_every_organizations_invoices_by_period_status_and_overdue(
    unit_of_work, as_user
) -> None:
    account = make_account(unit_of_work)
    org_id = account.organization_id
    lease(unit_of_work, account, activated_at=datetime(1995, 1, 1, tzinfo=UTC))
    january = bill(unit_of_work, account, invoicing.Period.month("1996-01"))
    late = make_invoice(unit_of_work, account, issued_at=utcnow() - timedelta(days=30))

    def listed(**query: Any) -> list[str]:
        with as_user(is_staff=True), unit_of_work("billing") as uow:
            page = invoicing.list_all_invoices(uow, {"organization_id": org_id, **query})
        assert all(item["organization_id"] == org_id for item in page["items"])
        return [item["id"] for item in page["items"]]

    assert set(listed()) == {january.id, late}
    assert listed(period="1996-01") == [january.id]
    assert listed(overdue=True) == [late]
    assert listed(overdue="false") == [january.id]
    assert listed(status="ISSUED", period="1996-02") == []
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        everyone = invoicing.list_all_invoices(uow, {"period": "1996-01", "limit": 200})
    assert january.id in [item["id"] for item in everyone["items"]]
    with (
        as_user(org_id, MemberRole.OWNER),
        pytest.raises(Forbidden),
        unit_of_work("billing") as uow,
    ):
        invoicing.list_all_invoices(uow, {})
    with (
        as_user(is_staff=True),
        pytest.raises(ValidationFailed) as refused,
        unit_of_work("billing") as uow,
    ):
        invoicing.list_all_invoices(uow, {"period": "1996-13"})
    assert "period" in refused.value.fields


def test_staff_find_any_service_by_status_serial_and_organization(unit_of_work, as_user) -> None:
    account = make_account(unit_of_work)
    org_id = account.organization_id
    serial = f"SN-{cuid()}"
    start = datetime(1995, 1, 1, tzinfo=UTC)
    till = lease(unit_of_work, account, activated_at=start, serial=serial)
    paused = lease(unit_of_work, account, activated_at=start, status=ServiceStatus.SUSPENDED)

    def listed(**query: Any) -> list[str]:
        with as_user(is_staff=True), unit_of_work("billing") as uow:
            return [item["id"] for item in catalog.list_all_services(uow, query)["items"]]

    assert set(listed(organization_id=org_id)) == {till, paused}
    assert listed(serial=serial) == [till]
    assert listed(organization_id=org_id, status="SUSPENDED") == [paused]
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        assert catalog.get_any_service(uow, till)["hardware_serial"] == serial
    with (
        as_user(is_staff=True),
        pytest.raises(NotFound) as refused,
        unit_of_work("billing") as uow,
    ):
        catalog.get_any_service(uow, cuid())
    assert refused.value.fields == {"service_id": ["not found"]}
    for act in (
        lambda uow: catalog.get_any_service(uow, till),
        lambda uow: catalog.list_all_services(uow, {}),
    ):
        with (
            as_user(org_id, MemberRole.OWNER),
            pytest.raises(Forbidden),
            unit_of_work("billing") as uow,
        ):
            act(uow)


# --- terms ---------------------------------------------------------------------------------


def test_a_fee_change_mid_month_bills_this_month_at_the_old_fee_and_next_at_the_new(
    unit_of_work, as_user
) -> None:
    this_month = invoicing.Period.month(utcnow().strftime("%Y-%m"))
    next_month = invoicing.Period.month(this_month.end.strftime("%Y-%m"))
    account = make_account(unit_of_work)
    service_id = lease(unit_of_work, account, activated_at=this_month.start - timedelta(days=40))
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        changed = catalog.change_service(
            uow, service_id, "update", {"monthly_fee": 4_500, "name": "Till Pro"}
        )
    assert (changed["monthly_fee"], changed["name"]) == (3_000, "Till")  # in force now
    assert changed["pending_terms"] == {
        "monthly_fee": 4_500,
        "name": "Till Pro",
        "effective_from": next_month.start.isoformat(),
    }
    with as_user(is_staff=True), unit_of_work("billing") as uow:  # a second one, same month
        catalog.change_service(uow, service_id, "update", {"monthly_fee": 5_000})

    now_invoice = bill(unit_of_work, account, this_month)
    next_invoice = bill(unit_of_work, account, next_month)

    assert [(item.total, item.description) for item in now_invoice.line_items] == [
        (3_000, "Till (pos terminal)")
    ]
    assert [(item.total, item.description) for item in next_invoice.line_items] == [
        (5_000, "Till Pro (pos terminal)")
    ]
    first, second = sorted(
        audit_rows(unit_of_work, service_id, "service.terms_changed"), key=lambda row: row.seq
    )
    assert first.metadata_ == {
        "old": {"monthly_fee": 3_000, "name": "Till"},
        "new": {"monthly_fee": 4_500, "name": "Till Pro"},
        "effective_from": next_month.start.isoformat(),
    }
    assert (second.metadata_["old"], second.metadata_["new"]) == (
        {"monthly_fee": 4_500, "name": "Till Pro"},
        {"monthly_fee": 5_000, "name": "Till Pro"},
    )
    assert first.organization_id == account.organization_id


def test_terms_changes_need_a_term_and_a_service_still_leased(unit_of_work, as_user) -> None:
    account = make_account(unit_of_work)
    start = datetime(1995, 1, 1, tzinfo=UTC)
    service_id = lease(unit_of_work, account, activated_at=start)
    with as_user(is_staff=True):
        for data, field in (({}, "_schema"), ({"monthly_fee": -1}, "monthly_fee")):
            with pytest.raises(ValidationFailed) as refused, unit_of_work("billing") as uow:
                catalog.change_service(uow, service_id, "update", data)
            assert field in refused.value.fields
        with pytest.raises(ValidationFailed) as refused, unit_of_work("billing") as uow:
            catalog.change_service(uow, service_id, "rename", {})
        assert "action" in refused.value.fields
        with unit_of_work("billing") as uow:
            catalog.change_service(uow, service_id, "cancel", {})
        with pytest.raises(Conflict), unit_of_work("billing") as uow:
            catalog.change_service(uow, service_id, "update", {"name": "x"})
    with (
        as_user(account.organization_id, MemberRole.OWNER),
        pytest.raises(Forbidden),
        unit_of_work("billing") as uow,
    ):
        catalog.change_service(uow, service_id, "update", {"name": "x"})


def test_staff_change_an_accounts_grace_period_audited(unit_of_work, as_user) -> None:
    account = make_account(unit_of_work, grace_period_days=14)
    org_id = account.organization_id
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        answer = accounts.update_account(uow, org_id, {"grace_period_days": 30})
    assert answer["grace_period_days"] == 30
    (row,) = audit_rows(unit_of_work, account.id, "billing_account.updated")
    assert row.metadata_ == {"old": {"grace_period_days": 14}, "new": {"grace_period_days": 30}}
    with as_user(is_staff=True):
        for bad in ({"grace_period_days": 366}, {"grace_period_days": -1}, {}, {"x": 1}):
            with pytest.raises(ValidationFailed), unit_of_work("billing") as uow:
                accounts.update_account(uow, org_id, bad)
    with (
        as_user(org_id, MemberRole.OWNER),
        pytest.raises(Forbidden),
        unit_of_work("billing") as uow,
    ):
        accounts.update_account(uow, org_id, {"grace_period_days": 1})


# --- prices ----------------------------------------------------------------------------------


class Metering:
    """Stands in for metering's event types; counts the questions."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)
        self.asked = 0

    def __call__(self) -> set[str]:
        self.asked += 1
        return self.names


@pytest.fixture
def price_table_kept(unit_of_work):
    """The price table is shared by the run: put back as it was."""
    with unit_of_work("billing") as uow:
        before = settings.price_table(uow)
    yield
    with unit_of_work("billing") as uow:
        model = uow.tables.system_setting
        uow.session.query(model).filter(model.key.startswith(settings.PRICE_PREFIX)).delete()
        for name, price in before.items():
            uow.session.add(
                model(key=settings.PRICE_PREFIX + name, value=settings.json.dumps(price))
            )


def test_prices_are_replaced_as_a_whole(unit_of_work, as_user, price_table_kept) -> None:
    metering = Metering("pos.sale", "api.call")
    with as_user(is_staff=True):
        with unit_of_work("billing") as uow:
            settings.update_settings(
                uow,
                {"prices": {"pos.sale": {"unit_price": 2}, "api.call": {"unit_price": 1}}},
                metering,
            )
        with unit_of_work("billing") as uow:
            answer = settings.update_settings(
                uow, {"prices": {"pos.sale": {"included": 10, "unit_price": 3}}}, metering
            )
    assert answer["prices"] == {"pos.sale": {"included": 10, "unit_price": 3}}
    (row, *_) = sorted(
        audit_rows(unit_of_work, "billing", "billing.settings_changed"),
        key=lambda row: -row.seq,
    )
    assert row.metadata_["prices"]["old"]["api.call"] == {"included": 0, "unit_price": 1}
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        answer = settings.update_settings(uow, {"invoice.due_days": 14}, metering)
        assert answer["prices"] == {"pos.sale": {"included": 10, "unit_price": 3}}
    assert metering.asked == 2  # not when no prices are given
    with as_user(is_staff=True), unit_of_work("billing") as uow:
        assert settings.update_settings(uow, {"prices": {}}, metering)["prices"] == {}


def test_a_price_for_an_event_type_metering_does_not_know_names_it(
    unit_of_work, as_user, price_table_kept
) -> None:
    with (
        as_user(is_staff=True),
        pytest.raises(ValidationFailed) as refused,
        unit_of_work("billing") as uow,
    ):
        settings.update_settings(
            uow,
            {"prices": {"pos.sale": {"unit_price": 2}, "pos.typo": {"unit_price": 2}}},
            Metering("pos.sale"),
        )
    assert refused.value.fields == {"prices.pos.typo": ["not a registered event type"]}


def test_every_page_of_metering_event_types_is_read() -> None:
    names = [f"type.{index}" for index in range(450)]
    asked = []

    def list_page(query: dict[str, int]) -> dict[str, Any]:
        asked.append(query["offset"])
        items = names[query["offset"] : query["offset"] + query["limit"]]
        return {"items": [{"name": name} for name in items], "total": len(names)}

    assert settings.registered_event_types(list_page) == set(names)
    assert asked == [0, 200, 400]


# --- a deleted organization ------------------------------------------------------------------

DELETED_AT = datetime(1997, 6, 16, 12, tzinfo=UTC)


def test_deleting_the_organization_cancels_its_services_and_bills_the_part_month_once(
    unit_of_work, as_user, as_system
) -> None:
    account = make_account(unit_of_work)
    org_id = account.organization_id
    start = datetime(1997, 5, 1, tzinfo=UTC)
    active = lease(unit_of_work, account, activated_at=start)
    paused = lease(unit_of_work, account, activated_at=start, status=ServiceStatus.SUSPENDED)
    claimed: list[str] = []

    def claim(organization_id: str, period_end: str, invoice_id: str) -> dict[str, int]:
        claimed.append(period_end)
        return {}

    with as_system():
        outcome = closing.close_account(Store(unit_of_work), org_id, DELETED_AT, claim, released)
        again = closing.close_account(
            Store(unit_of_work), org_id, DELETED_AT + timedelta(days=1), claim, released
        )
    assert outcome["result"] == "invoiced"
    assert again == {"result": "already invoiced", "invoice_number": outcome["invoice_number"]}
    assert claimed == [DELETED_AT.isoformat()]

    with unit_of_work("billing") as uow:
        closed = uow.session.get(BillingAccount, account.id)
        services = [uow.session.get(Service, service_id) for service_id in (active, paused)]
        (final,) = uow.session.scalars(
            select(Invoice).where(Invoice.billing_account_id == account.id)
        ).all()
        lines = [(item.total, item.description) for item in final.line_items]
    assert closed.closed_at == DELETED_AT
    assert [(s.status, s.cancelled_at) for s in services] == [
        (ServiceStatus.CANCELLED, DELETED_AT)
    ] * 2
    assert (final.period_start, final.period_end) == (datetime(1997, 6, 1, tzinfo=UTC), DELETED_AT)
    # 1st to 15th of June's 30 days; the suspended one stopped in May.
    assert lines == [(1_500, "Till (pos terminal, 15 of 30 days)")]
    assert final.status == InvoiceStatus.ISSUED
    assert len(audit_rows(unit_of_work, account.id, "billing_account.closed")) == 1

    # Never billed again; the month before it closed may still be.
    for month in ("1997-06", "1997-07"):
        with as_user(is_staff=True), unit_of_work("billing") as uow:
            run, _ = billing_runs.start_run(uow, {"period": month})
            in_run = uow.session.scalars(
                select(BillingRunItem.billing_account_id).where(BillingRunItem.run_id == run["id"])
            ).all()
        assert account.id not in in_run
    later = invoicing.invoice_account(
        Store(unit_of_work),
        account.id,
        org_id,
        invoicing.Period.month("1997-07"),
        no_usage,
        released,
    )
    assert later == invoicing.NOTHING_TO_BILL
    may = bill(unit_of_work, account, invoicing.Period.month("1997-05"))
    assert may.total == 3_000  # all May for the active one; the other was suspended


def test_a_closed_account_takes_no_lease_credit_or_payment_on_account(
    unit_of_work, as_user, as_system
) -> None:
    account = make_account(unit_of_work)
    org_id = account.organization_id
    lease(unit_of_work, account, activated_at=datetime(1997, 5, 1, tzinfo=UTC))
    with as_system():
        closing.close_account(Store(unit_of_work), org_id, DELETED_AT, no_usage, released)
    knows_it = lambda _: True  # noqa: E731 - identity still answering for it makes no difference
    with as_user(is_staff=True):
        for act in (
            lambda uow: catalog.add_service(
                uow, org_id, {"type": "POS_TERMINAL", "name": "x", "monthly_fee": 1}, knows_it
            ),
            lambda uow: settlement.issue_credit(uow, org_id, {"amount": 5, "reason": "x"}),
            lambda uow: accounts.get_billing_account(uow, org_id, knows_it),
            lambda uow: accounts.update_account(uow, org_id, {"grace_period_days": 3}),
        ):
            with pytest.raises(NotFound) as refused, unit_of_work("billing") as uow:
                act(uow)
            assert refused.value.fields == {"organization_id": ["not found"]}
    with unit_of_work("billing") as uow:
        assert accounts.open_billing_account(uow, org_id) is False
        assert (
            uow.session.scalar(select(func.count()).where(BillingAccount.organization_id == org_id))
            == 1
        )
    # Its final invoice can still be paid, and its ledger read.
    with unit_of_work("billing") as uow:
        final_id = uow.session.scalar(
            select(Invoice.id).where(Invoice.billing_account_id == account.id)
        )
    with as_system():
        pay(unit_of_work, final_id, 1_500)
    lines = whole_ledger(unit_of_work, as_user, org_id)
    assert [line["kind"] for line in lines] == ["invoice", "payment"]
    assert lines[-1]["balance_after"] == balance_of(unit_of_work, account) == 0


def test_an_organization_deleted_before_its_account_opened_never_gets_one(
    unit_of_work, as_system
) -> None:
    org_id = cuid()
    with as_system():
        outcome = closing.close_account(Store(unit_of_work), org_id, DELETED_AT, no_usage, released)
    assert outcome["result"] == "no billing account"
    with unit_of_work("billing") as uow:
        assert accounts.open_billing_account(uow, org_id) is False  # the late created event
    with pytest.raises(NotFound), unit_of_work("billing") as uow:
        accounts.get_billing_account(uow, org_id)


def test_closing_is_for_the_suite(unit_of_work, as_user) -> None:
    account = make_account(unit_of_work)
    with as_user(is_staff=True), pytest.raises(Forbidden):
        closing.close_account(
            Store(unit_of_work), account.organization_id, DELETED_AT, no_usage, released
        )
