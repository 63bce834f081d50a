"""`python -m paynow_simulator`: serve the simulator on PAYNOW_SIMULATOR_ADDRESS until
stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path

from werkzeug.serving import make_server

from paynow_simulator.app import build_app
from paynow_simulator.journal import Journal
from paynow_simulator.merchants import MerchantConfigError, configured_merchants
from shared import config, logs

COMPONENT = "paynow-simulator"
log = logging.getLogger("paynow_simulator")


def delay_scale() -> float:
    text = config.PAYNOW_SIMULATOR_DELAY_SCALE.get()
    try:
        scale = float(text)
    except ValueError:
        scale = -1.0
    if not scale >= 0:
        raise SystemExit(f"{COMPONENT}: PAYNOW_SIMULATOR_DELAY_SCALE={text!r} is not a number >= 0")
    return scale


IN_MEMORY = "-"


def journal() -> Journal | None:
    setting = config.PAYNOW_SIMULATOR_JOURNAL.get().strip()
    if setting == IN_MEMORY:
        return None
    return Journal(
        Path(setting or Path(config.CVT_VAR_DIR.get()) / "paynow-simulator-transactions.jsonl")
    )


def main() -> None:
    logs.configure(COMPONENT)
    try:
        merchants = configured_merchants()
    except MerchantConfigError as exc:
        raise SystemExit(f"{COMPONENT}: {exc}") from None
    kept = journal()
    if kept is not None:
        try:
            kept.check_writable()
        except OSError as exc:
            raise SystemExit(
                f"{COMPONENT}: cannot write its journal {kept.path} ({exc}); set "
                f"{config.PAYNOW_SIMULATOR_JOURNAL.name} to a writable file, or to "
                f"'{IN_MEMORY}' to keep transactions in memory only"
            ) from None
    app = build_app(merchants, delay_scale(), config.PAYNOW_SIMULATOR_BROWSER_URL.get(), kept)
    host, _, port = config.PAYNOW_SIMULATOR_ADDRESS.get().rpartition(":")
    server = make_server(host or "0.0.0.0", int(port), app, threaded=True)
    log.info(
        "Paynow simulator on %s:%s, merchants %s",
        host,
        port,
        ", ".join(sorted(merchants)) or "none (set PAYNOW_INTEGRATION_ID/KEY)",
    )
    # serve_forever runs on a thread of its own: shutdown() waits for it to return, so it
    # cannot be called from the thread that serves.
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    server.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
