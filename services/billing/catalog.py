"""What a client leases: POS terminals and maintenance plans (the seed's Service). Staff
add, suspend, reactivate and cancel them, and change their terms; the organization's
members see theirs.

Terms (monthly fee, name) change from the first day of next month (UTC): the month under
way is billed at the terms it started with. The service row holds the latest agreed
terms; each change keeps the terms it replaced in `ServiceTerms`, marked with the day the
change takes effect, and a period is billed at the terms in force on its first day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from services.billing.accounts import OrganizationLookup, account_for
from services.billing.models import Service, ServiceStatus, ServiceTerms, ServiceType
from services.billing.schemas import (
    ServiceAdminQuerySchema,
    ServiceChangeSchema,
    ServiceCreateSchema,
    ServiceSchema,
    ServiceTermsSchema,
)
from shared.authorization import VIEW_SERVICES, authorize, require_staff
from shared.clock import utcnow
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.ids import cuid, is_cuid
from shared.pagination import paginate
from shared.schemas import PageQuerySchema, load
from shared.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Terms:
    monthly_fee: int
    name: str


def next_month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)


def terms_at(uow: UnitOfWork, services: Sequence[Service], moment: datetime) -> dict[str, Terms]:
    """Each service's terms in force at `moment`: those of the earliest change taking
    effect after it, if any is still to come then; otherwise the latest agreed."""
    terms = {service.id: Terms(service.monthly_fee, service.name) for service in services}
    replaced = uow.session.scalars(
        select(ServiceTerms)
        .where(ServiceTerms.service_id.in_(list(terms)), ServiceTerms.effective_until > moment)
        .order_by(ServiceTerms.effective_until.desc())
    )
    for row in replaced:  # latest first, so the earliest one stays
        terms[row.service_id] = Terms(row.monthly_fee, row.name)
    return terms


def dump_services(uow: UnitOfWork, services: Sequence[Service]) -> list[dict[str, Any]]:
    """ServiceSchema answers: the terms in force now, and the agreed ones still to come."""
    now = utcnow()
    in_force = terms_at(uow, services, now)
    effective_from = dict(
        uow.session.execute(
            select(ServiceTerms.service_id, ServiceTerms.effective_until)
            .where(
                ServiceTerms.service_id.in_([service.id for service in services]),
                ServiceTerms.effective_until > now,
            )
            # The latest wins: from then on the agreed terms hold.
            .order_by(ServiceTerms.effective_until)
        ).all()
    )
    answers = []
    for service in services:
        now_terms, agreed = in_force[service.id], Terms(service.monthly_fee, service.name)
        pending = None
        if service.id in effective_from:
            pending = {**asdict(agreed), "effective_from": effective_from[service.id]}
        answers.append(
            ServiceSchema().dump(
                {**_columns(service), **asdict(now_terms), "pending_terms": pending}
            )
        )
    return answers


def _columns(service: Service) -> dict[str, Any]:
    return {
        name: getattr(service, name) for name in ServiceSchema().fields if name != "pending_terms"
    }


SERIAL_TAKEN = Conflict(
    "this hardware serial is on another active service", {"hardware_serial": ["in use"]}
)


def add_service(
    uow: UnitOfWork,
    organization_id: str,
    data: dict[str, Any],
    ask_identity: OrganizationLookup | None = None,
) -> dict[str, Any]:
    """Staff lease a service to an organization that exists (NotFound otherwise)."""
    require_staff()
    fields = load(ServiceCreateSchema(), data)
    account_for(uow, organization_id, ask_identity, open_only=True)
    service = Service(
        organization_id=organization_id,
        type=ServiceType(fields["type"]),
        name=fields["name"],
        hardware_serial=fields.get("hardware_serial"),
        monthly_fee=fields["monthly_fee"],
        activated_at=fields.get("activated_at") or utcnow(),
    )
    uow.session.add(service)
    _flush_or_serial_conflict(uow)
    uow.audit(
        "service.added",
        "Service",
        service.id,
        {"organization_id": organization_id},
        organization_id=organization_id,
    )
    return dump_services(uow, [service])[0]


def _flush_or_serial_conflict(uow: UnitOfWork) -> None:
    try:
        uow.session.flush()
    except IntegrityError as exc:
        raise SERIAL_TAKEN from exc


def _service_not_found() -> NotFound:
    return NotFound("service not found", {"service_id": ["not found"]})


def _service(uow: UnitOfWork, service_id: str) -> Service:
    service = (
        uow.session.get(Service, service_id, with_for_update=True) if is_cuid(service_id) else None
    )
    if service is None:
        raise _service_not_found()
    return service


def get_service(uow: UnitOfWork, organization_id: str, service_id: str) -> dict[str, Any]:
    """One of the organization's services; another organization's is not found, as if it
    did not exist (support checks with it what a client's ticket is about)."""
    authorize(organization_id, VIEW_SERVICES)
    service = uow.session.get(Service, service_id) if is_cuid(service_id) else None
    if service is None or service.organization_id != organization_id:
        raise _service_not_found()
    return dump_services(uow, [service])[0]


def get_any_service(uow: UnitOfWork, service_id: str) -> dict[str, Any]:
    """Staff: any organization's service."""
    require_staff()
    service = uow.session.get(Service, service_id) if is_cuid(service_id) else None
    if service is None:
        raise _service_not_found()
    return dump_services(uow, [service])[0]


# Which statuses each status change starts from (cancelled is final).
TRANSITIONS = {
    "suspend": {ServiceStatus.ACTIVE},
    "reactivate": {ServiceStatus.SUSPENDED},
    "cancel": {ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED},
}
ACTIONS = (*TRANSITIONS, "update")


def change_service(uow: UnitOfWork, service_id: str, action: str, data: dict) -> dict[str, Any]:
    """`action`: suspend, reactivate or cancel (cancelled is final), or update its terms
    (data: ServiceTermsSchema)."""
    require_staff()
    if action not in ACTIONS:
        raise ValidationFailed("unknown action", {"action": [f"one of {', '.join(ACTIONS)}"]})
    if action == "update":
        return _change_terms(uow, service_id, load(ServiceTermsSchema(), data))
    at = load(ServiceChangeSchema(), data).get("at") or utcnow()
    service = _service(uow, service_id)
    if service.status not in TRANSITIONS[action]:
        raise Conflict(f"a {service.status.value} service cannot be {action}ed")
    if action == "suspend":
        service.status, service.suspended_at = ServiceStatus.SUSPENDED, at
    elif action == "reactivate":
        service.status, service.suspended_at = ServiceStatus.ACTIVE, None
        service.suspended_with_account = False
    else:
        service.status, service.cancelled_at = ServiceStatus.CANCELLED, at
    _flush_or_serial_conflict(uow)
    uow.audit(
        f"service.{action}",
        "Service",
        service.id,
        {"at": at.isoformat()},
        organization_id=service.organization_id,
    )
    return dump_services(uow, [service])[0]


def _change_terms(uow: UnitOfWork, service_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    service = _service(uow, service_id)
    if service.status == ServiceStatus.CANCELLED:
        raise Conflict("a CANCELLED service's terms cannot change")
    effective_from = next_month_start(utcnow())
    old = Terms(service.monthly_fee, service.name)
    # A change already agreed for the same day saved the terms before that day.
    uow.session.execute(
        insert(ServiceTerms)
        .values(
            id=cuid(),
            service_id=service.id,
            monthly_fee=old.monthly_fee,
            name=old.name,
            effective_until=effective_from,
        )
        .on_conflict_do_nothing(index_elements=["service_id", "effective_until"])
    )
    service.monthly_fee = fields.get("monthly_fee", old.monthly_fee)
    service.name = fields.get("name", old.name)
    uow.session.flush()
    uow.audit(
        "service.terms_changed",
        "Service",
        service.id,
        {
            "old": asdict(old),
            "new": {"monthly_fee": service.monthly_fee, "name": service.name},
            "effective_from": effective_from.isoformat(),
        },
        organization_id=service.organization_id,
    )
    return dump_services(uow, [service])[0]


def list_services(
    uow: UnitOfWork,
    organization_id: str,
    query: dict[str, Any],
    ask_identity: OrganizationLookup | None = None,
) -> dict[str, Any]:
    authorize(organization_id, VIEW_SERVICES)
    page = load(PageQuerySchema(), query)
    account_for(uow, organization_id, ask_identity)
    statement = (
        select(Service)
        .where(Service.organization_id == organization_id)
        .order_by(Service.activated_at, Service.id)
    )
    return _services_page(uow, statement, page)


def list_all_services(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    """Staff: every organization's services, newest first; by status, hardware serial
    (exact) or organization."""
    require_staff()
    page = load(ServiceAdminQuerySchema(), query)
    statement = select(Service)
    if page.get("status"):
        statement = statement.where(Service.status == ServiceStatus(page["status"]))
    if page.get("serial"):
        statement = statement.where(Service.hardware_serial == page["serial"])
    if page.get("organization_id"):
        statement = statement.where(Service.organization_id == page["organization_id"])
    statement = statement.order_by(Service.activated_at.desc(), Service.id)
    return _services_page(uow, statement, page)


def _services_page(uow: UnitOfWork, statement: Any, page: dict[str, Any]) -> dict[str, Any]:
    found = paginate(uow.session, statement, page, lambda service: service)
    return {**found, "items": dump_services(uow, found["items"])}
