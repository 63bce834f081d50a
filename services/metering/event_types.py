"""The registry of event types terminals may report; staff edit it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.metering.events import EventTypesChanged
from services.metering.models import EventType
from services.metering.schemas import (
    EventTypeCreateSchema,
    EventTypeSchema,
    EventTypeUpdateSchema,
)
from shared.authorization import require_staff
from shared.errors import Conflict, NotFound
from shared.pagination import paginate
from shared.schemas import PageQuerySchema, load
from shared.unit_of_work import UnitOfWork


def active_event_types(uow: UnitOfWork) -> list[str]:
    return list(uow.session.scalars(select(EventType.name).where(EventType.is_active)))


def list_event_types(uow: UnitOfWork, query: dict[str, Any]) -> dict[str, Any]:
    require_staff()
    page = load(PageQuerySchema(), query)
    statement = select(EventType).order_by(EventType.name)
    return paginate(uow.session, statement, page, EventTypeSchema().dump)


def create_event_type(uow: UnitOfWork, data: dict[str, Any]) -> dict[str, Any]:
    require_staff()
    fields = load(EventTypeCreateSchema(), data)
    if uow.session.get(EventType, fields["name"]) is not None:
        raise Conflict("event type exists", {"name": ["already registered"]})
    event_type = EventType(**fields)
    uow.session.add(event_type)
    uow.audit("event_type.created", "EventType", event_type.name, fields)
    uow.emit(EventTypesChanged(name=event_type.name))
    return EventTypeSchema().dump(event_type)


def update_event_type(uow: UnitOfWork, name: str, data: dict[str, Any]) -> dict[str, Any]:
    require_staff()
    fields = load(EventTypeUpdateSchema(), data)
    event_type = uow.session.get(EventType, name)
    if event_type is None:
        raise NotFound("event type not found", {"name": ["not registered"]})
    for key, value in fields.items():
        setattr(event_type, key, value)
    uow.audit("event_type.updated", "EventType", name, fields)
    uow.emit(EventTypesChanged(name=name))
    return EventTypeSchema().dump(event_type)
