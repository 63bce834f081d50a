"""The deployment files, checked offline with the tools that read them.

- Every Kustomize overlay (deploy/k8s/overlays/*) and deploy/k8s/dependencies render with
  `kubectl kustomize`; every rendered document of a built-in kind meets the Kubernetes
  schema (kubernetes-validate, strict: unknown fields are errors). Custom resources of the
  operators (RabbitMQ, CloudNativePG, Prometheus Operator) have no schema here: they are
  only checked to be kinds we expect, and never appear in an overlay.
- docker-compose.yml passes `docker-compose config` (Compose 1.29 reads the Compose
  Specification without an engine).
- What the manifests promise matches the code: every setting they set exists, every
  service has its Deployment, probes, disruption budget and migration Job, the commands
  they run exist, metering scales on the queue it really consumes.

`make test` installs kubectl and docker-compose when missing (ops/tools.sh); without them
these tests fail, never skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily

from ops.__main__ import main as ops_main
from ops.processes import free_port
from services.metering.events import USAGE_QUEUE
from shared import config, metrics

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir())
# The oldest Kubernetes the manifests are meant for (matchLabelKeys needs 1.27+).
KUBERNETES_VERSION = "1.29"
CUSTOM_KINDS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"),
    ("rabbitmq.com/v1beta1", "Vhost"),
    ("rabbitmq.com/v1beta1", "User"),
    ("rabbitmq.com/v1beta1", "Permission"),
    ("rabbitmq.com/v1beta1", "Policy"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
}
SETTING_NAMES = {setting.name for setting in config.all_settings()}
# Example values that must never be mistaken for real ones.
SECRET_EXAMPLE = K8S / "base" / "secret.example.yaml"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `sh ops/tools.sh` (make test does)")
    return found


def render(directory: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def validate(doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {exc.message}")


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def named(docs: list[dict[str, Any]], kind: str, prefix: str) -> dict[str, Any]:
    """A generated ConfigMap or Secret, whose name carries a content hash."""
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    assert len(matches) == 1, f"{kind}/{prefix}*: {len(matches)} found"
    return matches[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(K8S / "overlays" / request.param)


def test_there_are_dev_and_production_overlays() -> None:
    assert OVERLAYS == ["dev", "production"]


def test_every_overlay_document_meets_the_kubernetes_schema(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = overlay
    for doc in docs:
        assert (doc["apiVersion"], doc["kind"]) not in CUSTOM_KINDS, (
            "operators' kinds go in dependencies/"
        )
        validate(doc)


def test_dependencies_render_built_in_kinds_validate_and_custom_kinds_are_expected() -> None:
    docs = render(K8S / "dependencies")
    custom = {(d["apiVersion"], d["kind"]) for d in docs} & CUSTOM_KINDS
    assert custom == CUSTOM_KINDS
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) not in CUSTOM_KINDS:
            validate(doc)
        assert doc["metadata"]["name"]
        # The suite's namespace is given at apply time (kubectl apply -n ...).
        assert "namespace" not in doc["metadata"]


def test_the_secret_example_is_a_valid_secret_of_settings_with_placeholder_values() -> None:
    secret = yaml.safe_load(SECRET_EXAMPLE.read_text())
    validate(secret)
    assert set(secret["stringData"]) <= SETTING_NAMES
    assert {"AMQP_URI", "DATABASE_URL", "CONTEXT_SIGNING_KEY"} <= set(secret["stringData"])
    for name, value in secret["stringData"].items():
        assert "CHANGE-ME" in value or set(value) <= set("0-"), f"{name} looks real"


def test_configuration_names_only_settings_the_suite_reads(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    name, docs = overlay
    assert set(named(docs, "ConfigMap", "cvt-erp-config-")["data"]) <= SETTING_NAMES
    secrets = [d for d in docs if d["kind"] == "Secret"]
    if name == "production":
        assert secrets == [], "production's Secret is made out of band, never from the repo"
    else:
        assert set(named(docs, "Secret", "cvt-erp-secrets-")["data"]) <= SETTING_NAMES


def test_the_first_deploy_step_selects_the_namespace_configuration_and_migrations(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    """docs/operations.md applies `-l 'app.kubernetes.io/component in (config,migration)'`
    before the rest: it must pick the namespace, the settings and the migration Jobs."""
    _, docs = overlay
    first = [
        d for d in docs
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        in ("config", "migration")
    ]  # fmt: skip
    jobs = sorted(d["metadata"]["name"] for d in first if d["kind"] == "Job")
    assert jobs == sorted(f"{service}-migrate" for service in config.SERVICES)
    kinds = {d["kind"] for d in first if d["kind"] != "Job"}
    assert {"Namespace", "ConfigMap"} <= kinds <= {"Namespace", "ConfigMap", "Secret"}


def test_every_service_has_probes_graceful_stop_a_budget_and_a_migration_job(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = overlay
    for service in config.SERVICES:
        deployment = find(docs, "Deployment", service)
        spec = deployment["spec"]
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
        main = container(deployment)
        assert main["args"] == [service]
        assert main["readinessProbe"]["exec"]["command"] == [
            "python", "-m", "ops", "health", service,
        ]  # fmt: skip
        assert main["livenessProbe"]["httpGet"]["port"] == "metrics"
        ports = {port["name"]: port["containerPort"] for port in main["ports"]}
        assert ports["metrics"] == int(config.METRICS_PORT.default)
        annotations = spec["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(ports["metrics"])

        budget = find(docs, "PodDisruptionBudget", service)
        assert budget["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]

        job = find(docs, "Job", f"{service}-migrate")
        assert container(job)["command"] == ["python", "-m", "ops", "migrate", service]


def test_the_pod_monitor_selects_every_process_that_serves_metrics(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = overlay
    monitor = find(render(K8S / "dependencies"), "PodMonitor", "cvt-erp")["spec"]
    selector = monitor["selector"]["matchLabels"]
    endpoint_port = monitor["podMetricsEndpoints"][0]["port"]
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        ports = {port["name"] for port in container(deployment).get("ports", [])}
        if endpoint_port in ports:
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), deployment["metadata"]["name"]
    metered = {d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"
               and endpoint_port in {p["name"] for p in container(d).get("ports", [])}}  # fmt: skip
    assert metered == {*config.SERVICES, "gateway"}


def test_the_commands_the_manifests_run_exist(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["health", "--help"], ["migrate", "--help"]):
        with pytest.raises(SystemExit) as exited:
            ops_main(command)
        assert exited.value.code == 0
    assert "billing" in capsys.readouterr().out


def test_the_gateway_is_served_probed_and_stops_gracefully(
    overlay: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = overlay
    gateway = container(find(docs, "Deployment", "gateway"))
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/v1/health"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/v1/health"
    assert gateway["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    http_port = {port["name"]: port["containerPort"] for port in gateway["ports"]}["http"]
    config_map = named(docs, "ConfigMap", "cvt-erp-config-")["data"]
    assert config_map["GATEWAY_ADDRESS"].endswith(f":{http_port}")
    service = find(docs, "Service", "gateway")
    ingress = find(docs, "Ingress", "gateway")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]


def test_production_autoscales_the_gateway_on_cpu_and_metering_on_its_queue() -> None:
    docs = render(K8S / "overlays" / "production")
    gateway = find(docs, "HorizontalPodAutoscaler", "gateway")["spec"]
    assert gateway["metrics"][0]["resource"]["name"] == "cpu"
    metering = find(docs, "HorizontalPodAutoscaler", "metering")["spec"]
    external = metering["metrics"][0]["external"]
    assert external["metric"]["selector"]["matchLabels"]["queue"] == USAGE_QUEUE.name
    # The autoscaler owns these counts; a fixed one would be reset on every apply.
    for name in ("gateway", "metering"):
        assert "replicas" not in find(docs, "Deployment", name)["spec"]
    tls = find(docs, "Ingress", "gateway")["spec"]["tls"]
    assert tls[0]["hosts"] == [find(docs, "Ingress", "gateway")["spec"]["rules"][0]["host"]]


def test_the_paynow_simulator_and_mail_catcher_run_in_dev_only() -> None:
    dev = render(K8S / "overlays" / "dev")
    production = render(K8S / "overlays" / "production")
    config_map = named(dev, "ConfigMap", "cvt-erp-config-")["data"]
    simulator = find(dev, "Service", "paynow-simulator")
    assert (
        config_map["PAYNOW_URL"]
        == f"http://paynow-simulator:{simulator['spec']['ports'][0]['port']}"
    )
    assert config_map["SMTP_HOST"] == find(dev, "Service", "mailpit")["metadata"]["name"]
    for name in ("paynow-simulator", "mailpit"):
        assert not [d for d in production if d["metadata"]["name"] == name]
    assert named(production, "ConfigMap", "cvt-erp-config-")["data"]["PAYNOW_URL"] == (
        "https://www.paynow.co.zw"
    )


class CountingCollector:
    def __init__(self) -> None:
        self.collected = 0

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.collected += 1
        yield GaugeMetricFamily("cvt_test_gauge", "a gauge", value=1)


def test_the_liveness_path_answers_without_running_the_collectors() -> None:
    """The services' liveness probe asks the metrics server for /favicon.ico because
    /metrics runs collectors that query the database and the broker."""
    registry = CollectorRegistry()
    collector = CountingCollector()
    registry.register(collector)  # type: ignore[arg-type]
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/favicon.ico", timeout=5) as answer:
            assert answer.status == 200
        assert collector.collected == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert b"cvt_test_gauge 1.0" in answer.read()
        assert collector.collected == 1
    finally:
        server.shutdown()
        thread.join(5)


# --- the Grafana dashboard -------------------------------------------------------------------

DASHBOARD = ROOT / "deploy" / "grafana" / "cvt-erp.json"
SAMPLE_SUFFIX = {"counter": "_total", "histogram": "_bucket", "gauge": ""}


def test_the_dashboard_graphs_only_metrics_the_processes_export() -> None:
    # The registry every process of the suite serves on METRICS_PORT.
    families = {family.name: family.type for family in metrics.REGISTRY.collect()}
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    graphed = {name for expr in expressions for name in re.findall(r"\bcvt_[a-z_]+", expr)}
    exported = {name + SAMPLE_SUFFIX[kind] for name, kind in families.items()
                if name.startswith("cvt_")}  # fmt: skip
    assert graphed and graphed <= exported, graphed - exported
    business = {"cvt_usage_events_total", "cvt_invoices_issued_total", "cvt_payments_total"}
    assert business <= graphed


# --- docker-compose.yml -----------------------------------------------------------------------

SCALABLE = (*config.SERVICES,)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    env = os.environ | {
        "CONTEXT_SIGNING_KEY": "k" * 40,
        "PAYNOW_INTEGRATION_ID": "20001",
        "PAYNOW_INTEGRATION_KEY": "6f0f7b4e-0f4c-4a51-9d3e-2a7c5f1d0b11",
    }
    out = subprocess.run(
        [tool("docker-compose"), "--project-directory", str(ROOT), "-f",
         str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_runs_every_component_with_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {*config.SERVICES, "gateway", "paynow-simulator", "mailpit", "migrate"}
    assert expected <= set(services)
    for name, service in services.items():
        if name != "migrate":  # a one-shot job: its exit status is its health
            assert "healthcheck" in service, name


def test_compose_services_scale_and_check_their_own_health(compose: dict[str, Any]) -> None:
    for name in SCALABLE:
        service = compose["services"][name]
        assert "container_name" not in service and "ports" not in service, name
        assert service["healthcheck"]["test"][-4:] == ["-m", "ops", "health", name]
        assert set(service["environment"]) <= SETTING_NAMES, name


def test_compose_mail_goes_to_a_catcher_with_a_web_ui(compose: dict[str, Any]) -> None:
    mailpit = compose["services"]["mailpit"]
    # docker-compose 1.29 prints ports as "host_ip:published:target/protocol".
    assert [port.rsplit(":", 1)[1] for port in mailpit["ports"]] == ["8025/tcp"]
    assert compose["services"]["notifications"]["environment"]["SMTP_HOST"] == "mailpit"
