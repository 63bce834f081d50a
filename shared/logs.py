"""One log format for every process, with the request id on every line: readable text by
default, JSON lines (one object a line, for log collectors) when LOG_FORMAT=json.

A `DomainError` (an expired session, a 404, a refused value) is the caller's mistake, not
the service's: nameko's container logs it at WARNING or ERROR with a traceback all the
same, which buries the real errors. `DomainErrorsAtInfo` turns every such record into one
INFO line without a traceback; anything else keeps its level and traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from shared import config, context, tracing
from shared.errors import DomainError

FORMAT = "%(asctime)s %(levelname)s %(service)s [req=%(request_id)s] %(name)s: %(message)s"
TEXT = "text"
JSON = "json"

# `service.method` of the worker this greenthread runs (None outside a worker).
_entrypoint: ContextVar[str | None] = ContextVar("cvt_entrypoint", default=None)


def bind_entrypoint(name: str | None) -> None:
    _entrypoint.set(name)


class RequestIdFilter(logging.Filter):
    """Adds the process's component, the request id and, for JSON lines, the rest of the
    call context and the entrypoint to every record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = context.current()
        record.request_id = ctx.request_id or "-"
        record.service = self.service
        record.call_context = ctx
        record.entrypoint = _entrypoint.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC ISO-8601), level, service, entrypoint, request
    id, organization, actor, logger, message, exception (its traceback), and the trace id
    when tracing is on. Fields without a value are left out."""

    def format(self, record: logging.LogRecord) -> str:
        ctx: context.CallContext = getattr(record, "call_context", context.current())
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": getattr(record, "service", None),
            "entrypoint": getattr(record, "entrypoint", None),
            "request_id": ctx.request_id,
            "organization_id": ctx.organization_id,
            "actor_type": ctx.actor_type,
            "actor_id": ctx.actor_id,
            "trace_id": tracing.trace_id() if tracing.enabled() else None,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(
            {key: value for key, value in line.items() if value is not None},
            ensure_ascii=False,
            default=str,
        )


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


def make_handler(
    service: str, level: int, stream: TextIO = sys.stdout, log_format: str = TEXT
) -> logging.Handler:
    """The one handler of a process: its format, request ids, domain refusals at INFO."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter(service))
    handler.addFilter(DomainErrorsAtInfo(level))
    handler.setFormatter(JsonLines() if log_format == JSON else logging.Formatter(FORMAT))
    return handler


def configure(service: str) -> None:
    level = logging.getLevelNamesMapping()[config.LOG_LEVEL.get().upper()]
    log_format = config.LOG_FORMAT.get().strip().lower()
    if log_format not in (TEXT, JSON):
        raise SystemExit(f"{config.LOG_FORMAT.name} is {log_format!r}: use {TEXT} or {JSON}")
    root = logging.getLogger()
    root.handlers[:] = [make_handler(service, level, log_format=log_format)]
    root.setLevel(level)
    # kombu/amqp chatter at INFO drowns the service's own lines.
    for noisy in ("amqp", "kombu"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
