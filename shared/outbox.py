"""Publishes a service's outbox rows to its nameko event exchange.

Messages are persistent and sent with publisher confirms, so a row is stamped
`published_at` only after RabbitMQ has taken responsibility for it. Several instances of
one service may relay at once: `FOR UPDATE SKIP LOCKED` gives each row to one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.clock import utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 200


class OutboxRelay:
    def __init__(
        self,
        service_name: str,
        amqp_uri: str,
        session_factory: Callable[[], Session],
        outbox_model: type[Any],
    ) -> None:
        self.exchange = get_event_exchange(service_name, {})
        self.publisher = Publisher(amqp_uri, serializer="json", declare=[self.exchange])
        self._session_factory = session_factory
        self._model = outbox_model

    def publish_pending(self, event_ids: Sequence[str] | None = None) -> int:
        """Publish unpublished rows (only `event_ids` if given); returns how many were sent."""
        model = self._model
        query = (
            select(model)
            .where(model.published_at.is_(None))
            .order_by(model.created_at, model.id)
            .limit(BATCH_SIZE)
            .with_for_update(skip_locked=True)
        )
        if event_ids is not None:
            query = query.where(model.id.in_(list(event_ids)))
        with self._session_factory() as session, session.begin():
            rows = session.scalars(query).all()
            for row in rows:
                self.publisher.publish(
                    row.payload,
                    exchange=self.exchange,
                    routing_key=row.event_type,
                    headers=row.headers,
                )
                row.published_at = utcnow()
        if rows:
            log.debug("published %d event(s)", len(rows))
        return len(rows)

    def backlog(self) -> tuple[int, float | None]:
        """Rows not yet published, and the age in seconds of the oldest (None if none);
        read through the partial index on unpublished rows."""
        model = self._model
        query = select(func.count(), func.min(model.created_at)).where(model.published_at.is_(None))
        with self._session_factory() as session:
            count, oldest = session.execute(query).one()
        return count, (utcnow() - oldest).total_seconds() if oldest is not None else None

    def drain(self) -> int:
        total = 0
        while sent := self.publish_pending():
            total += sent
            if sent < BATCH_SIZE:
                break
        return total
