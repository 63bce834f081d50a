"""What a client leases: POS terminals and maintenance plans (the seed's Service). Staff
add, suspend, reactivate and cancel them; the organization's members see theirs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.billing.accounts import OrganizationLookup, account_for
from services.billing.models import Service, ServiceStatus, ServiceType
from services.billing.schemas import ServiceChangeSchema, ServiceCreateSchema, ServiceSchema
from shared.authorization import VIEW_SERVICES, authorize, require_staff
from shared.clock import utcnow
from shared.errors import Conflict, NotFound
from shared.ids import is_cuid
from shared.pagination import paginate
from shared.schemas import PageQuerySchema, load
from shared.unit_of_work import UnitOfWork

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
    account_for(uow, organization_id, ask_identity)
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
    uow.audit("service.added", "Service", service.id, {"organization_id": organization_id})
    return ServiceSchema().dump(service)


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
    return ServiceSchema().dump(service)


def change_service(uow: UnitOfWork, service_id: str, action: str, data: dict) -> dict[str, Any]:
    """`action`: suspend, reactivate or cancel (cancelled is final)."""
    require_staff()
    at = load(ServiceChangeSchema(), data).get("at") or utcnow()
    service = _service(uow, service_id)
    allowed = {
        "suspend": {ServiceStatus.ACTIVE},
        "reactivate": {ServiceStatus.SUSPENDED},
        "cancel": {ServiceStatus.ACTIVE, ServiceStatus.SUSPENDED},
    }[action]
    if service.status not in allowed:
        raise Conflict(f"a {service.status.value} service cannot be {action}ed")
    if action == "suspend":
        service.status, service.suspended_at = ServiceStatus.SUSPENDED, at
    elif action == "reactivate":
        service.status, service.suspended_at = ServiceStatus.ACTIVE, None
    else:
        service.status, service.cancelled_at = ServiceStatus.CANCELLED, at
    _flush_or_serial_conflict(uow)
    uow.audit(f"service.{action}", "Service", service.id, {"at": at.isoformat()})
    return ServiceSchema().dump(service)


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
    return paginate(uow.session, statement, page, ServiceSchema().dump)
