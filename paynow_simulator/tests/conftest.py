"""The simulator as a real process on a free port (started as `make up` starts it), and a
tiny merchant result URL that records what the simulator posts to it."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from ops.processes import Supervisor, free_port
from paynow_simulator import protocol
from paynow_simulator.merchants import Merchant
from shared.waiting import wait_until

COMPONENT = "paynow-simulator"
DELAY_SCALE = 0.05  # the 5 s test script takes 0.25 s


@dataclass
class RunningSimulator:
    url: str
    merchant: Merchant

    def post(self, path: str, message: protocol.Message) -> dict[str, str]:
        """A message sent as merchants send theirs; the reply's fields."""
        response = requests.post(
            self.url + path,
            data=protocol.encode(message),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
        response.raise_for_status()
        return protocol.fields(protocol.parse(response.text))

    def poll(self, poll_url: str) -> protocol.Message:
        response = requests.post(poll_url, timeout=10)
        response.raise_for_status()
        return protocol.parse(response.text)

    def faults(self, **switches: object) -> dict:
        response = requests.post(f"{self.url}/_simulator/faults", json=switches, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def transaction(self, reference: str) -> dict:
        response = requests.get(
            f"{self.url}/_simulator/transactions", params={"reference": reference}, timeout=10
        )
        [found] = response.json()
        return found


@pytest.fixture(scope="session")
def simulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    var_dir = Path(tmp_path_factory.mktemp("paynow-simulator"))
    address = f"127.0.0.1:{free_port()}"
    merchant = Merchant("30001", str(uuid.uuid4()))
    env = os.environ | {
        "CVT_VAR_DIR": str(var_dir),
        "PAYNOW_SIMULATOR_ADDRESS": address,
        "PAYNOW_INTEGRATION_ID": merchant.integration_id,
        "PAYNOW_INTEGRATION_KEY": merchant.integration_key,
        "PAYNOW_SIMULATOR_DELAY_SCALE": str(DELAY_SCALE),
    }
    supervisor = Supervisor(var_dir, env=env)
    supervisor.start(COMPONENT)
    try:
        supervisor.wait_listening(COMPONENT, timeout=30)
        yield RunningSimulator(f"http://{address}", merchant)
    finally:
        supervisor.stop(COMPONENT)


@pytest.fixture
def simulator(simulator_process: RunningSimulator) -> Iterator[RunningSimulator]:
    """The running simulator, its fault switches off again after the test."""
    yield simulator_process
    requests.delete(f"{simulator_process.url}/_simulator/faults", timeout=10).raise_for_status()


@dataclass
class Post:
    body: str
    content_type: str

    @property
    def message(self) -> protocol.Message:
        return protocol.parse(self.body)


@dataclass
class ResultUrl:
    """A merchant's result URL: keeps every post; answers 500 to the first `failing`."""

    url: str
    posts: list[Post] = field(default_factory=list)
    failing: int = 0

    def posts_about(self, reference: str) -> list[Post]:
        return [p for p in self.posts if protocol.fields(p.message).get("reference") == reference]

    def wait_for(self, reference: str, count: int = 1, timeout: float = 10) -> list[Post]:
        def enough() -> list[Post] | None:
            found = self.posts_about(reference)
            return found if len(found) >= count else None

        return wait_until(enough, timeout, f"{count} status post(s) about {reference}")


@pytest.fixture
def result_url() -> Iterator[ResultUrl]:
    port = free_port()
    receiver = ResultUrl(f"http://127.0.0.1:{port}/paynow/result")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            receiver.posts.append(Post(body, self.headers["Content-Type"]))
            failed = receiver.failing > 0
            receiver.failing -= failed
            self.send_response(500 if failed else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
