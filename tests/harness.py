"""Where tests find RabbitMQ, PostgreSQL and Redis, and how each run gets its own.

Order: the servers named by DATABASE_URL / AMQP_URI / REDIS_URL (default: the local ones);
else, where a Docker engine answers, throwaway testcontainers; else fail with what to
start. Each run gets a fresh database, a fresh RabbitMQ vhost (both dropped at the end)
and its own Redis key prefix, so runs never see each other's data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import redis
import requests
from kombu import Connection
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL, make_url

from shared import config
from shared.waiting import DeadlineExceeded, wait_until

# How long a new vhost may take to serve connections before the run gives up.
VHOST_READY_SECONDS = 30.0

HOW_TO_START = """\
Integration tests need RabbitMQ, PostgreSQL and Redis, and not all answered:
  PostgreSQL at {pg} ({pg_error})
  RabbitMQ at {amqp} ({amqp_error})
  Redis at {redis} ({redis_error})
and no Docker engine is available for testcontainers. Start them, e.g.:
  rabbitmq-server -detached
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
or point DATABASE_URL, AMQP_URI and REDIS_URL at servers that run."""


@dataclass(frozen=True)
class RunEnvironment:
    database_url: str
    amqp_uri: str
    redis_url: str
    redis_namespace: str

    def as_env(self) -> dict[str, str]:
        return {
            config.DATABASE_URL.name: self.database_url,
            config.AMQP_URI.name: self.amqp_uri,
            config.REDIS_URL.name: self.redis_url,
            config.REDIS_NAMESPACE.name: self.redis_namespace,
        }


@contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ while the block runs, as it was before afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def exported(environment: RunEnvironment) -> AbstractContextManager[None]:
    """`environment` in os.environ while the block runs (for code that reads its settings
    there: migrations, the seed)."""
    return environ(environment.as_env())


def run_sql(database_url: str, statement: str, **params: object) -> list[Any]:
    """One statement in a transaction of its own; the rows, if it returns any."""
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def _postgres_error(server: URL) -> str | None:
    try:
        engine = create_engine(server, poolclass=pool.NullPool, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return str(exc).splitlines()[0]


def _amqp_error(uri: str) -> str | None:
    try:
        with Connection(uri, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        return None
    except Exception as exc:
        return str(exc)


def _redis_error(url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        return None
    except redis.RedisError as exc:
        return str(exc)


def _docker_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _with_vhost(uri: str, vhost: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    return parts._replace(path="/" + urllib.parse.quote(vhost, safe="")).geturl()


def _rabbitmqctl(ctl: str, *args: str, check: bool = True) -> str:
    done = subprocess.run([ctl, "-q", *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(
            f"rabbitmqctl {' '.join(args)} failed ({done.returncode}): "
            f"{(done.stderr or done.stdout).strip()}"
        )
    return done.stdout


def queue_depths(uri: str) -> dict[str, int]:
    """Messages (ready and unacknowledged) in every queue of the URI's vhost, through the
    management API if it answers, else rabbitmqctl."""
    parts = urllib.parse.urlsplit(uri)
    vhost = urllib.parse.unquote(parts.path[1:]) or "/"
    auth = (
        urllib.parse.unquote(parts.username or "guest"),
        urllib.parse.unquote(parts.password or "guest"),
    )
    try:
        response = requests.get(
            f"http://{parts.hostname}:15672/api/queues/{urllib.parse.quote(vhost, safe='')}",
            params={"columns": "name,messages"},
            auth=auth,
            timeout=5,
        )
        response.raise_for_status()
        return {queue["name"]: int(queue.get("messages") or 0) for queue in response.json()}
    except requests.RequestException:
        ctl = shutil.which("rabbitmqctl")
        if ctl is None:
            raise RuntimeError("neither the management API nor rabbitmqctl answers") from None
        listing = _rabbitmqctl(
            ctl, "list_queues", "-p", vhost, "--no-table-headers", "name", "messages"
        )
        rows = (line.rsplit("\t", 1) for line in listing.splitlines() if "\t" in line)
        return {name: int(messages) for name, messages in rows}


def _vhost_admin(uri: str) -> tuple[Callable[[str], None], Callable[[str], None]]:
    """Create/delete vhosts via the management API if it answers, else via rabbitmqctl."""
    parts = urllib.parse.urlsplit(uri)
    api = f"http://{parts.hostname}:15672/api"
    auth = (
        urllib.parse.unquote(parts.username or "guest"),
        urllib.parse.unquote(parts.password or "guest"),
    )
    try:
        requests.get(f"{api}/overview", auth=auth, timeout=2).raise_for_status()
    except requests.RequestException:
        ctl = shutil.which("rabbitmqctl")
        if ctl is None:
            raise RuntimeError(
                "cannot create a RabbitMQ vhost for this run: enable the management plugin "
                "(rabbitmq-plugins enable rabbitmq_management) or install rabbitmqctl"
            ) from None

        def create(vhost: str) -> None:
            _rabbitmqctl(ctl, "add_vhost", vhost)
            _rabbitmqctl(ctl, "set_permissions", "-p", vhost, auth[0], ".*", ".*", ".*")

        def delete(vhost: str) -> None:
            _rabbitmqctl(ctl, "delete_vhost", vhost, check=False)

        return create, delete

    def create_api(vhost: str) -> None:
        name = urllib.parse.quote(vhost, safe="")
        requests.put(f"{api}/vhosts/{name}", auth=auth, timeout=10).raise_for_status()
        requests.put(
            f"{api}/permissions/{name}/{urllib.parse.quote(auth[0])}",
            auth=auth,
            data=json.dumps({"configure": ".*", "write": ".*", "read": ".*"}),
            headers={"content-type": "application/json"},
            timeout=10,
        ).raise_for_status()

    def delete_api(vhost: str) -> None:
        requests.delete(f"{api}/vhosts/{urllib.parse.quote(vhost, safe='')}", auth=auth, timeout=10)

    return create_api, delete_api


def _vhost_serves(uri: str) -> str | None:
    """None once a connection to the vhost opens and a channel on it declares a queue;
    else the broker's answer (e.g. "vhost ... not found", "vhost ... is down")."""
    try:
        with Connection(uri, connect_timeout=3) as conn:
            channel = conn.channel()
            channel.queue_declare(queue="", exclusive=True, auto_delete=True)
            channel.close()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def wait_until_vhost_serves(uri: str, vhost: str, timeout: float = VHOST_READY_SECONDS) -> None:
    """The add_vhost/PUT that created the vhost returning is not the broker serving it: a
    vhost's processes start asynchronously (on every node of a cluster), and a run that
    connected at once once failed with "vhost ... not found". Wait until it serves."""
    last: list[str | None] = [None]

    def serves() -> bool:
        last[0] = _vhost_serves(uri)
        return last[0] is None

    try:
        wait_until(serves, timeout, f"RabbitMQ vhost {vhost} to accept connections", 0.2)
    except DeadlineExceeded as exc:
        raise RuntimeError(f"{exc}; the broker's last answer: {last[0]}") from None


@contextmanager
def _run_on(
    server: URL, amqp_base: str, redis_url: str, make_vhost: bool
) -> Iterator[RunEnvironment]:
    run_id = uuid.uuid4().hex[:10]
    database = f"cvt_test_{run_id}"
    vhost = f"cvt-test-{run_id}"
    admin = create_engine(server, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    amqp_uri = amqp_base
    delete_vhost: Callable[[str], None] | None = None
    try:
        if make_vhost:
            create_vhost, delete_vhost = _vhost_admin(amqp_base)
            create_vhost(vhost)
            amqp_uri = _with_vhost(amqp_base, vhost)
            wait_until_vhost_serves(amqp_uri, vhost)
        yield RunEnvironment(
            database_url=server.set(database=database).render_as_string(hide_password=False),
            amqp_uri=amqp_uri,
            redis_url=redis_url,
            # Rate-limit counters of this run live under their own prefix.
            redis_namespace=f"cvt-test-{run_id}",
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
        if delete_vhost is not None:
            delete_vhost(vhost)


@contextmanager
def run_environment_on(server_url: str, amqp_uri: str, redis_url: str) -> Iterator[RunEnvironment]:
    """A fresh database on the PostgreSQL server of `server_url`, beside a broker (its
    vhost included) already private to this run."""
    with _run_on(make_url(server_url), amqp_uri, redis_url, make_vhost=False) as env:
        yield env


@contextmanager
def run_environment() -> Iterator[RunEnvironment]:
    server = make_url(config.DATABASE_URL.get()).set(database="postgres")
    amqp = config.AMQP_URI.get()
    redis_url = config.REDIS_URL.get()
    pg_error, amqp_error = _postgres_error(server), _amqp_error(amqp)
    redis_error = _redis_error(redis_url)
    if pg_error is None and amqp_error is None and redis_error is None:
        with _run_on(server, amqp, redis_url, make_vhost=True) as env:
            yield env
        return
    if not _docker_engine_answers():
        raise RuntimeError(
            HOW_TO_START.format(
                pg=server.render_as_string(hide_password=True),
                pg_error=pg_error or "ok",
                amqp=amqp,
                amqp_error=amqp_error or "ok",
                redis=redis_url,
                redis_error=redis_error or "ok",
            )
        )
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer
    from testcontainers.redis import RedisContainer

    with (
        PostgresContainer("postgres:15") as pg,
        RabbitMqContainer("rabbitmq:3.10") as mq,
        RedisContainer("redis:7") as cache,
    ):
        container_server = make_url(pg.get_connection_url()).set(
            drivername="postgresql+psycopg2", database="postgres"
        )
        params = mq.get_connection_params()
        container_amqp = f"amqp://guest:guest@{params.host}:{params.port}/"
        # A throwaway broker is already private to this run: no vhost needed.
        container_redis = (
            f"redis://{cache.get_container_host_ip()}:{cache.get_exposed_port(6379)}/0"
        )
        with _run_on(container_server, container_amqp, container_redis, make_vhost=False) as env:
            yield env
