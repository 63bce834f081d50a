"""RPC calls answer or fail within their deadline, and what may pass if tried again later
(a service that does not answer, a broker or a database that is away) is `Unavailable`."""

from __future__ import annotations

from typing import Any

import eventlet
import kombu.exceptions
import pytest
from nameko.exceptions import RemoteError

from shared import rpc
from shared.errors import Unavailable


class FakeMethod:
    """An RpcProxy method: `call_async` sends (or fails to), `result` waits for the reply."""

    def __init__(self, send_error: Exception | None = None, reply: Any = None) -> None:
        self.send_error = send_error
        self.reply = reply

    def call_async(self, *args: Any) -> FakeMethod:
        if self.send_error is not None:
            raise self.send_error
        return self

    def result(self) -> Any:
        if self.reply == "hang":
            eventlet.sleep(10)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_the_reply_is_returned() -> None:
    assert rpc.call(FakeMethod(reply={"id": "x"})) == {"id": "x"}


@pytest.mark.parametrize(
    "method",
    [
        FakeMethod(reply="hang"),
        # kombu gave up reaching the broker.
        FakeMethod(send_error=kombu.exceptions.OperationalError("ECONNREFUSED")),
        # The service answered, but its PostgreSQL is down or restarting.
        FakeMethod(reply=RemoteError("OperationalError", "connection refused")),
        FakeMethod(reply=RemoteError("InterfaceError", "connection already closed")),
    ],
)
def test_what_may_pass_later_is_unavailable(method: FakeMethod) -> None:
    with pytest.raises(Unavailable):
        rpc.call(method, timeout=0.2)


def test_other_service_errors_pass_through() -> None:
    with pytest.raises(RemoteError) as caught:
        rpc.call(FakeMethod(reply=RemoteError("KeyError", "boom")))
    assert caught.value.exc_type == "KeyError"
