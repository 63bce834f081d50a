"""The simulator keeps its transactions across restarts, as Paynow does: what it opened and
every change of status come back from its journal, and a test-mode script cut short by a
crash plays when it was due."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from ops.processes import Supervisor, free_port
from paynow_simulator import protocol
from paynow_simulator.initiation import read_express
from paynow_simulator.journal import Journal, Opened
from paynow_simulator.merchants import Merchant
from paynow_simulator.tests.conftest import COMPONENT, ResultUrl
from paynow_simulator.tests.samples import MERCHANT, express_values
from paynow_simulator.tests.test_transactions import SCALE, Harness
from paynow_simulator.transactions import FIRST_REFERENCE
from shared.clock import utcnow
from shared.waiting import wait_until

BASE = "http://paynow.test"


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "transactions.jsonl")


def test_every_transaction_and_status_comes_back_after_a_restart(journal: Journal) -> None:
    first = Harness(journal)
    web, express = first.web(), first.express(method="innbucks")
    first.ledger.move(web.paynow_reference, protocol.PAID)
    first.ledger.move(web.paynow_reference, protocol.DISPUTED)

    second = Harness(journal)

    assert second.restored == 2
    for before in (web, express):
        after = second.ledger.find(before.paynow_reference)
        assert (after.guid, after.status, after.initiation) == (
            before.guid, before.status, before.initiation,
        )  # fmt: skip
        assert after.history == before.history
        assert after.status_message() == before.status_message()
        assert after.initiation_reply() == before.initiation_reply()
        assert second.ledger.by_guid(before.guid) is after
    # New transactions are numbered after the ones that came back.
    assert int(second.web().paynow_reference) == FIRST_REFERENCE + 2


def test_a_script_cut_short_plays_when_it_was_due(journal: Journal) -> None:
    first = Harness(journal)
    pending = first.express(phone="0772222222")  # paid after 30 s (1.5 s here)
    # The crash: the timer dies with the process, unplayed.
    assert [delay for delay, _ in first.timers] == [pytest.approx(30 * SCALE)]

    second = Harness(journal)

    [delay] = [d for d, _ in second.timers]
    assert 0 < delay <= 30 * SCALE
    second.fire_timers()
    assert second.announced == [(pending.paynow_reference, protocol.PAID)]
    assert Harness(journal).ledger.find(pending.paynow_reference).status == protocol.PAID


def test_a_script_already_played_is_not_played_again(journal: Journal) -> None:
    first = Harness(journal)
    done = first.express(phone="0771111111")
    first.ledger.move(done.paynow_reference, protocol.PAID)

    second = Harness(journal)

    assert second.timers == []
    assert second.ledger.find(done.paynow_reference).status == protocol.PAID


def test_a_line_cut_short_or_of_an_unknown_merchant_is_skipped(journal: Journal) -> None:
    first = Harness(journal)
    kept = first.web()
    with journal.path.open("a") as file:
        file.write('{"kind": "moved", "paynow_reference": "')  # the crash, mid-line
    assert Harness(journal).restored == 1
    assert Harness(journal, merchants={}).restored == 0
    assert Harness(journal).ledger.find(kept.paynow_reference).status == protocol.CREATED


def test_a_script_overdue_at_restart_plays_at_once(journal: Journal) -> None:
    initiation, _ = read_express(express_values())
    journal.opened(
        Opened(
            guid=str(uuid.uuid4()),
            paynow_reference="10007",
            merchant=MERCHANT,
            initiation=initiation,
            poll_url=f"{BASE}/poll",
            status=protocol.SENT,
            at=utcnow() - timedelta(minutes=5),
            scripted=read_express(express_values())[1],
            scripted_at=utcnow() - timedelta(minutes=4),
        )
    )
    restarted = Harness(journal)
    assert [d for d, _ in restarted.timers] == [0.0]


def test_the_process_killed_mid_script_finishes_it_after_restart(
    tmp_path: Path, result_url: ResultUrl
) -> None:
    """SIGKILL while a test-mode payment is pending: after a restart its poll URL still
    answers, and the script ends as it would have — paid, and posted to the merchant."""
    address = f"127.0.0.1:{free_port()}"
    merchant = Merchant("30002", str(uuid.uuid4()))
    supervisor = Supervisor(
        tmp_path,
        env=os.environ
        | {
            "CVT_VAR_DIR": str(tmp_path),
            "PAYNOW_SIMULATOR_ADDRESS": address,
            "PAYNOW_INTEGRATION_ID": merchant.integration_id,
            "PAYNOW_INTEGRATION_KEY": merchant.integration_key,
            "PAYNOW_SIMULATOR_DELAY_SCALE": "0.1",  # paid after 30 s -> 3 s
        },
    )
    supervisor.start(COMPONENT)
    try:
        supervisor.wait_listening(COMPONENT, timeout=30)
        values = express_values(
            phone="0772222222", id=merchant.integration_id, resulturl=result_url.url
        )
        message = protocol.sign(list(values.items()), merchant.integration_key)
        answer = requests.post(
            f"http://{address}{protocol.REMOTE_PATH}",
            data=protocol.encode(message),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
        reply = protocol.fields(protocol.parse(answer.text))
        assert reply["status"] == "Ok", answer.text

        supervisor.kill(COMPONENT)
        supervisor.start(COMPONENT)
        supervisor.wait_listening(COMPONENT, timeout=30)

        def polled() -> dict[str, str]:
            response = requests.post(reply["pollurl"], timeout=10)
            return protocol.fields(protocol.parse(response.text))

        assert polled()["reference"] == values["reference"]
        wait_until(lambda: polled()["status"] == protocol.PAID, 20, "the script to end paid")
        [post] = result_url.wait_for(values["reference"])
        assert protocol.fields(post.message)["status"] == protocol.PAID
    finally:
        supervisor.stop(COMPONENT)


def test_a_journal_that_cannot_be_written_stops_the_start_with_a_clear_message(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = os.environ | {
        "CVT_VAR_DIR": str(tmp_path),
        "PAYNOW_SIMULATOR_ADDRESS": f"127.0.0.1:{free_port()}",
        "PAYNOW_SIMULATOR_JOURNAL": str(blocker / "transactions.jsonl"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "paynow_simulator"], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "cannot write its journal" in done.stderr
    assert "PAYNOW_SIMULATOR_JOURNAL" in done.stderr
