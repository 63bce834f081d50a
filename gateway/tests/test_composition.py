"""The gateway is composed, not registered: each area's module declares its routes, the
service serves exactly those, every gateway module stays small, and the gateway reaches
other services only through the shapes and contracts they share on purpose."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from nameko.containers import ServiceContainer

from gateway import routes
from gateway.http import JsonRoute
from gateway.routes import ROUTES
from gateway.service import GatewayService

GATEWAY = Path(__file__).resolve().parents[1]
ROOT = GATEWAY.parent
MAX_MODULE_LINES = 300
MAX_SERVICE_LINES = 200
# What the gateway may import of the services: the shapes and event contracts they share.
SHARED_ON_PURPOSE = ("schemas", "events")


def test_every_route_is_declared_once() -> None:
    endpoints = Counter((route.method, route.template) for route in ROUTES)
    names = Counter(route.name for route in ROUTES)
    assert [e for e, n in endpoints.items() if n > 1] == []
    assert [name for name, n in names.items() if n > 1] == []


def test_the_service_serves_exactly_the_declared_routes() -> None:
    container = ServiceContainer(GatewayService, config={"AMQP_URI": "memory://"})
    served = {
        (entrypoint.method, entrypoint.url)
        for entrypoint in container.entrypoints
        if isinstance(entrypoint, JsonRoute)
    }
    assert served == {(route.method, route.path) for route in ROUTES}
    assert GatewayService.routes == ROUTES


def test_every_area_is_in_the_composition() -> None:
    modules = {path.stem for path in (GATEWAY / "routes").glob("*.py")} - {"__init__"}
    assert {area.__name__.rsplit(".", 1)[1] for area in routes.AREAS} == modules


def test_every_gateway_module_is_small() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in GATEWAY.rglob("*.py")
        if "tests" not in path.parts
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
    assert sizes["gateway/service.py"] <= MAX_SERVICE_LINES


def test_the_gateway_imports_no_service_code_but_schemas_and_contracts() -> None:
    """In a fresh interpreter: every module the gateway and its routes pull in."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, gateway.service, gateway.access_table; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('services.'))))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    modules = set(json.loads(loaded.splitlines()[-1]))
    packages = {m for m in modules if m.count(".") == 1}  # services.<name>/__init__.py
    shared = {m for m in modules if m.rsplit(".", 1)[1] in SHARED_ON_PURPOSE}
    assert modules - packages - shared == set()


def test_the_invoice_page_is_the_gateway_s_alone() -> None:
    assert (GATEWAY / "invoice.html").exists()
    assert not list((ROOT / "services").rglob("invoice.html"))
    assert "invoice_html" not in (ROOT / "services/billing/invoicing.py").read_text()
