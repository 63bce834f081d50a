"""A local SMTP server that keeps every message in a Maildir, for `make up` and the tests
(no mail leaves the machine). `python -m ops.mailsink`; it serves until stopped."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

from shared import config


def mail_dir() -> Path:
    return Path(config.CVT_VAR_DIR.get()).resolve() / "mail"


def main() -> None:
    directory = mail_dir()
    directory.parent.mkdir(parents=True, exist_ok=True)  # Mailbox makes the Maildir itself
    controller = Controller(
        Mailbox(str(directory)), hostname=config.SMTP_HOST.get(), port=int(config.SMTP_PORT.get())
    )
    controller.start()
    print(f"mail sink on {controller.hostname}:{controller.port}, Maildir {directory}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
