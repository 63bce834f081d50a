"""The fault switches and the status poster they bend, without a network: the poster's
sends are recorded and answered by the test."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests

from paynow_simulator import protocol
from paynow_simulator.faults import Faults, FaultSwitches
from paynow_simulator.initiation import read_express
from paynow_simulator.status_posts import ATTEMPTS, StatusPoster
from paynow_simulator.tests.samples import MERCHANT, express_values
from paynow_simulator.transactions import Transaction

RETRY_PAUSE = 0.5


def paid_transaction() -> Transaction:
    initiation, _ = read_express(express_values())
    return Transaction(
        guid="g",
        paynow_reference="10001",
        merchant=MERCHANT,
        initiation=initiation,
        poll_url="http://paynow.test/Interface/CheckPayment/?guid=g",
        status=protocol.PAID,
    )


def run_now(action: Callable[..., None], *args: object) -> None:
    action(*args)


class FakeResultUrl:
    """The merchant's result URL: answers each send with the next of `answers` (200 once
    they run out; an exception is raised), and keeps what was sent."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str]] = []
        self.pauses: list[float] = []

    def send(self, url: str, body: str) -> int:
        self.sent.append((url, body))
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer

    def poster(self, switches: FaultSwitches) -> StatusPoster:
        return StatusPoster(switches, RETRY_PAUSE, self.send, run_now, self.pauses.append)

    def messages(self) -> list[protocol.Message]:
        return [protocol.parse(body) for _, body in self.sent]


def announce(switches: FaultSwitches, merchant: FakeResultUrl) -> StatusPoster:
    poster = merchant.poster(switches)
    poster.announce(paid_transaction())
    return poster


def test_switches_change_only_what_is_named_and_reset() -> None:
    switches = FaultSwitches()
    assert switches.current == Faults()
    switches.update({"drop_status_posts": True})
    switches.update({"slow_seconds": 1.5})
    assert switches.current == Faults(drop_status_posts=True, slow_seconds=1.5)
    assert switches.reset() == Faults()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"drop_everything": True}, "unknown switches ['drop_everything']"),
        ({"bad_hash": "yes"}, "bad_hash must be true or false"),
        ({"slow_seconds": -1}, "slow_seconds must be a number of seconds"),
        ({"slow_seconds": True}, "slow_seconds must be a number of seconds"),
        ({"bad_hash": True, "slow_seconds": "2"}, "slow_seconds must be"),
        (["bad_hash"], "expected a JSON object"),
    ],
)
def test_a_wrong_switch_is_refused_and_changes_nothing(changes: object, error: str) -> None:
    switches = FaultSwitches()
    with pytest.raises(ValueError, match=re.escape(error)):
        switches.update(changes)
    assert switches.current == Faults()


def test_a_status_change_is_posted_once_signed_to_the_result_url() -> None:
    merchant = FakeResultUrl()
    poster = announce(FaultSwitches(), merchant)

    [(url, _)] = merchant.sent
    assert url == "http://merchant.test/result"
    [message] = merchant.messages()
    assert [name for name, _ in message] == [
        "reference",
        "paynowreference",
        "amount",
        "status",
        "pollurl",
        "hash",
    ]
    assert protocol.is_signed_by(message, MERCHANT.integration_key)
    [record] = poster.records["10001"]
    assert (record.status, record.delivered, record.answers) == (protocol.PAID, 1, ["200"])


def test_dropped_status_posts_are_not_sent_but_recorded() -> None:
    switches = FaultSwitches()
    switches.update({"drop_status_posts": True})
    merchant = FakeResultUrl()
    poster = announce(switches, merchant)
    assert merchant.sent == []
    [record] = poster.records["10001"]
    assert record.dropped and record.copies == 0


def test_duplicated_status_posts_arrive_twice_alike() -> None:
    switches = FaultSwitches()
    switches.update({"duplicate_status_posts": True})
    merchant = FakeResultUrl()
    poster = announce(switches, merchant)
    first, second = merchant.sent
    assert first == second
    assert poster.records["10001"][0].delivered == 2


def test_a_bad_hash_is_well_formed_but_does_not_verify() -> None:
    switches = FaultSwitches()
    switches.update({"bad_hash": True})
    merchant = FakeResultUrl()
    poster = announce(switches, merchant)
    [message] = merchant.messages()
    assert re.fullmatch(r"[0-9A-F]{128}", protocol.fields(message)["hash"])
    assert not protocol.is_signed_by(message, MERCHANT.integration_key)
    assert poster.records["10001"][0].hash_valid is False


def test_an_http_error_or_no_answer_is_retried_after_a_pause() -> None:
    merchant = FakeResultUrl(500, requests.ConnectionError("refused"), 503)
    poster = announce(FaultSwitches(), merchant)
    assert len(merchant.sent) == 4
    assert merchant.pauses == [RETRY_PAUSE] * 3
    [record] = poster.records["10001"]
    assert record.answers == ["500", "ConnectionError", "503", "200"]
    assert (record.delivered, record.gave_up) == (1, 0)


def test_paynow_gives_up_after_ten_attempts() -> None:
    merchant = FakeResultUrl(*[500] * ATTEMPTS)
    poster = announce(FaultSwitches(), merchant)
    assert len(merchant.sent) == ATTEMPTS == 10
    assert len(merchant.pauses) == ATTEMPTS - 1
    [record] = poster.records["10001"]
    assert (record.delivered, record.gave_up) == (0, 1)
