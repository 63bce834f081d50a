"""The test harness's vhost per run (tests/harness.py): a run waits until its new vhost
serves connections, instead of failing when the broker is slower than the command that
created it."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from shared import config
from tests.harness import (
    RunEnvironment,
    _vhost_admin,
    _with_vhost,
    wait_until_vhost_serves,
)


def test_the_run_s_own_vhost_serves(test_environment: RunEnvironment) -> None:
    started = time.monotonic()
    wait_until_vhost_serves(test_environment.amqp_uri, "this run's", timeout=10)
    assert time.monotonic() - started < 10


def test_a_vhost_that_never_appears_fails_with_the_broker_s_answer() -> None:
    vhost = f"cvt-absent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError, match="not found") as raised:
        wait_until_vhost_serves(_with_vhost(config.AMQP_URI.get(), vhost), vhost, timeout=1)
    assert vhost in str(raised.value)


def test_a_vhost_that_appears_late_is_waited_for() -> None:
    """As when the broker starts the vhost after the creating command returned."""
    base = config.AMQP_URI.get()
    vhost = f"cvt-late-{uuid.uuid4().hex[:8]}"
    create, delete = _vhost_admin(base)
    creator = threading.Timer(1.0, create, args=(vhost,))
    creator.start()
    try:
        wait_until_vhost_serves(_with_vhost(base, vhost), vhost, timeout=30)
    finally:
        creator.join()
        delete(vhost)
