"""One log format for every process, with the request id on every line."""

from __future__ import annotations

import logging
import sys

from shared import config, context

FORMAT = "%(asctime)s %(levelname)s %(service)s [req=%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.current().request_id or "-"
        record.service = self.service
        return True


def configure(service: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter(service))
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(config.LOG_LEVEL.get().upper())
    # kombu/amqp chatter at INFO drowns the service's own lines.
    for noisy in ("amqp", "kombu"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
