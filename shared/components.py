"""The suite's components (the six services and the gateway) and the Nameko class each
runs, for the launcher and for tools that read the classes without running them (the
event catalogue, `python -m ops queues`): importing this patches nothing."""

from __future__ import annotations

import importlib

from shared import config

COMPONENTS = {name: f"services.{name}.service" for name in config.SERVICES} | {
    "gateway": "gateway.service"
}


def service_class(component: str) -> type:
    module = importlib.import_module(COMPONENTS[component])
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "name", None) == component:
            return value
    raise LookupError(f"{COMPONENTS[component]} defines no service named {component!r}")
