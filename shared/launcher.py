"""Runs one service, or the gateway, as a process of its own.

    python -m shared.launcher billing

Monkey-patching happens here, before anything else is imported, so psycopg2, kombu and
the standard library all cooperate under eventlet.
"""

import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402

from nameko.cli.run import run  # noqa: E402

from shared import config, context, logs, metrics, tracing  # noqa: E402
from shared.components import COMPONENTS, service_class  # noqa: E402


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in COMPONENTS:
        raise SystemExit(f"usage: python -m shared.launcher {{{','.join(COMPONENTS)}}}")
    component = argv[1]
    try:
        context.signing_keys()
    except context.SigningKeyMissing as exc:
        raise SystemExit(f"{component}: {exc}") from None
    logs.configure(component)
    metrics.serve(component)
    tracing.configure(component)
    run([service_class(component)], config.nameko_config())


if __name__ == "__main__":
    main(sys.argv)
