"""`make up` without Paynow credentials: the supervisor makes an integration once, keeps
it, and hands the same one to the simulator (and so to the payments service)."""

from __future__ import annotations

import os
from pathlib import Path

from ops import processes
from ops.processes import Supervisor
from paynow_simulator import protocol
from paynow_simulator.merchants import Merchant
from paynow_simulator.tests.conftest import COMPONENT, RunningSimulator, free_port
from paynow_simulator.tests.samples import web_values


def test_a_local_integration_is_made_kept_and_known_to_the_simulator(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYNOW_")}
    env |= {"PAYNOW_SIMULATOR_ADDRESS": address}
    supervisor = Supervisor(tmp_path, env=env)
    supervisor.start(COMPONENT)
    try:
        supervisor.wait_listening(COMPONENT, timeout=30)
        # What the supervisor handed over is what it keeps for the next `make up`.
        integration_id, key = processes.local_paynow_integration(tmp_path)
        assert (
            supervisor.env["PAYNOW_INTEGRATION_ID"],
            supervisor.env["PAYNOW_INTEGRATION_KEY"],
        ) == (
            integration_id,
            key,
        )
        assert (tmp_path / processes.PAYNOW_INTEGRATION_FILE).stat().st_mode & 0o777 == 0o600

        simulator = RunningSimulator(f"http://{address}", Merchant(integration_id, key))
        message = protocol.sign(list(web_values(id=integration_id).items()), key)
        assert simulator.post(protocol.INITIATE_PATH, message)["status"] == "Ok"
    finally:
        supervisor.stop(COMPONENT)
