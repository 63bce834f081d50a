"""Domain refusals are one INFO line without a traceback; unexpected errors stay at ERROR
with theirs. Checked with the process's own handler, behind nameko's real container."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from nameko.containers import ServiceContainer
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook

from shared import config, context, logs
from shared.dependencies import CallContextProvider, Telemetry
from shared.errors import DomainError, NotFound, Unauthorized
from shared.logs import make_handler


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the process's handler writes while the root logger is at INFO."""
    stream = io.StringIO()
    root = logging.getLogger()
    handler = make_handler("test", logging.INFO, stream)
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def raise_and_log(logger: logging.Logger, exc: Exception, **how: object) -> None:
    try:
        raise exc
    except Exception:
        if how.get("expected"):
            logger.warning("(expected) error handling worker %s: %s", "w", exc, exc_info=True)
        else:
            logger.exception("error handling worker %s: %s", "w", exc)


def test_a_domain_error_is_one_info_line_without_traceback(log_lines: io.StringIO) -> None:
    raise_and_log(logging.getLogger("nameko.containers"), NotFound("organization c1 not found"))

    [line] = lines(log_lines)
    assert " INFO test " in line
    assert "refused (404 not_found): error handling worker w: organization c1 not found" in line


def test_an_expected_domain_error_is_lowered_too(log_lines: io.StringIO) -> None:
    raise_and_log(logging.getLogger("any.logger"), Unauthorized("session expired"), expected=True)

    [line] = lines(log_lines)
    assert " INFO " in line
    assert "refused (401 unauthorized)" in line


def test_an_unexpected_error_keeps_error_and_its_traceback(log_lines: io.StringIO) -> None:
    raise_and_log(logging.getLogger("nameko.containers"), RuntimeError("disk on fire"))

    logged = lines(log_lines)
    assert " ERROR " in logged[0]
    assert "disk on fire" in logged[0]
    assert logged[1] == "Traceback (most recent call last):"
    assert logged[-1] == "RuntimeError: disk on fire"


def test_a_domain_error_below_the_configured_level_is_not_written() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test_logs.quiet")
    logger.addHandler(make_handler("test", logging.WARNING, stream))
    logger.propagate = False
    try:
        raise_and_log(logger, NotFound("nobody"))
        raise_and_log(logger, RuntimeError("real trouble"))
    finally:
        logger.handlers.clear()
        logger.propagate = True

    text = stream.getvalue()
    assert "nobody" not in text
    assert " ERROR " in text and "real trouble" in text


def test_a_plain_record_is_left_alone(log_lines: io.StringIO) -> None:
    logging.getLogger("any.logger").warning("disk %d%% full", 91)

    [line] = lines(log_lines)
    assert " WARNING " in line
    assert line.endswith("any.logger: disk 91% full")


class Refuses:
    name = "refuses"

    @rpc
    def look_up(self, what: str) -> None:
        if what == "missing":
            raise NotFound("organization missing not found")
        raise RuntimeError("a bug")


def test_behind_nameko_s_container(log_lines: io.StringIO) -> None:
    """RPC entrypoints declare no expected exceptions: nameko logs every error with
    `_log.exception`; only the DomainError is lowered."""
    container = ServiceContainer(Refuses, {"AMQP_URI": "memory://"})
    with entrypoint_hook(container, "look_up") as look_up:
        with pytest.raises(DomainError):
            look_up("missing")
        with pytest.raises(RuntimeError):
            look_up("other")

    logged = [line for line in lines(log_lines) if "nameko.containers" in line or "Trace" in line]
    assert " INFO " in logged[0]
    assert logged[0].endswith(
        "nameko.containers: refuses.look_up refused (404 not_found): organization missing not found"
    )
    assert " ERROR " in logged[1] and "a bug" in logged[1]
    assert logged[2] == "Traceback (most recent call last):"
    assert len(logged) == 3


log = logging.getLogger("test_logs.chatty")


class Chatty:
    name = "chatty"
    call_context = CallContextProvider()
    telemetry = Telemetry()

    @rpc
    def speak(self, outcome: str) -> None:
        log.info("spoken %s", "words")
        if outcome == "refuse":
            raise NotFound("organization missing not found")
        if outcome == "break":
            raise RuntimeError("a bug")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    handler = make_handler("billing", logging.INFO, stream, log_format=logs.JSON)
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def test_json_lines_carry_who_called_which_entrypoint(json_lines: io.StringIO) -> None:
    caller = context.CallContext(
        request_id="req-json", actor_type=context.USER, actor_id="u1", organization_id="org1"
    )
    container = ServiceContainer(Chatty, {"AMQP_URI": "memory://"})
    with entrypoint_hook(container, "speak", context_data=caller.to_context_data()) as speak:
        speak("fine")
        with pytest.raises(DomainError):
            speak("refuse")
        with pytest.raises(RuntimeError):
            speak("break")

    # Only this worker's lines: other tests' containers may still be logging as they stop.
    records = [
        record
        for record in map(json.loads, lines(json_lines))
        if record.get("entrypoint") == "chatty.speak"
    ]
    spoken = [r for r in records if r["message"] == "spoken words"]
    assert len(spoken) == 3
    assert {key: spoken[0][key] for key in spoken[0] if key != "time"} == {
        "level": "INFO",
        "service": "billing",
        "entrypoint": "chatty.speak",
        "request_id": "req-json",
        "organization_id": "org1",
        "actor_type": "user",
        "actor_id": "u1",
        "logger": "test_logs.chatty",
        "message": "spoken words",
    }
    assert spoken[0]["time"].endswith("+00:00")
    [refused] = [r for r in records if "refused (404 not_found)" in r["message"]]
    assert refused["level"] == "INFO" and "exception" not in refused
    [failed] = [r for r in records if r["level"] == "ERROR"]
    assert failed["exception"].startswith("Traceback (most recent call last):")
    assert failed["exception"].endswith("RuntimeError: a bug")
    assert failed["request_id"] == "req-json"


def test_a_line_outside_any_worker_has_no_entrypoint(json_lines: io.StringIO) -> None:
    logging.getLogger("any.logger").warning("disk %d%% full", 91)

    [record] = [r for r in map(json.loads, lines(json_lines)) if r["logger"] == "any.logger"]
    assert record["message"] == "disk 91% full"
    assert "entrypoint" not in record and "request_id" not in record


def test_log_format_chooses_the_formatter(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        monkeypatch.setenv(config.LOG_FORMAT.name, "json")
        logs.configure("billing")
        assert isinstance(root.handlers[0].formatter, logs.JsonLines)
        monkeypatch.setenv(config.LOG_FORMAT.name, "text")
        logs.configure("billing")
        assert not isinstance(root.handlers[0].formatter, logs.JsonLines)
        monkeypatch.setenv(config.LOG_FORMAT.name, "xml")
        with pytest.raises(SystemExit, match="LOG_FORMAT"):
            logs.configure("billing")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
