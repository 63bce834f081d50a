"""One log format for every process, with the request id on every line.

A `DomainError` (an expired session, a 404, a refused value) is the caller's mistake, not
the service's: nameko's container logs it at WARNING or ERROR with a traceback all the
same, which buries the real errors. `DomainErrorsAtInfo` turns every such record into one
INFO line without a traceback; anything else keeps its level and traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from shared import config, context
from shared.errors import DomainError

FORMAT = "%(asctime)s %(levelname)s %(service)s [req=%(request_id)s] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.current().request_id or "-"
        record.service = self.service
        return True


def domain_error_of(record: logging.LogRecord) -> DomainError | None:
    exc = record.exc_info[1] if isinstance(record.exc_info, tuple) else None
    return exc if isinstance(exc, DomainError) else None


def _entrypoint_of(record: logging.LogRecord) -> str | None:
    """`service.method` when nameko's container logged the record about a worker."""
    worker = record.args[0] if isinstance(record.args, tuple) and record.args else None
    entrypoint = getattr(worker, "entrypoint", None)
    if entrypoint is None:
        return None
    return f"{worker.service_name}.{entrypoint.method_name}"


class DomainErrorsAtInfo(logging.Filter):
    """A record carrying a DomainError becomes INFO (or stays lower), its traceback dropped
    and the refusal (status and code) added to its message. It sits on the handler, which
    runs after the logger's level check, so it also drops a lowered record that is now
    below the configured `level`."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        exc = domain_error_of(record)
        if exc is None:
            return True
        refusal = f"refused ({exc.status} {exc.code})"
        entrypoint = _entrypoint_of(record)
        if entrypoint is not None:
            record.msg = f"{entrypoint} {refusal}: {exc.message}"
        else:
            record.msg = f"{refusal}: {record.getMessage()}"
        record.args = None
        record.levelno = min(record.levelno, logging.INFO)
        record.levelname = logging.getLevelName(record.levelno)
        record.exc_info = record.exc_text = None
        return record.levelno >= self.level


def make_handler(service: str, level: int, stream: TextIO = sys.stdout) -> logging.Handler:
    """The one handler of a process: its format, request ids, domain refusals at INFO."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter(service))
    handler.addFilter(DomainErrorsAtInfo(level))
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def configure(service: str) -> None:
    level = logging.getLevelNamesMapping()[config.LOG_LEVEL.get().upper()]
    root = logging.getLogger()
    root.handlers[:] = [make_handler(service, level)]
    root.setLevel(level)
    # kombu/amqp chatter at INFO drowns the service's own lines.
    for noisy in ("amqp", "kombu"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
