"""`python -m ops audit verify` on the run's databases: every chain intact, then one
service's chain tampered with by hand (and put back afterwards)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import pool, text

from ops.__main__ import main
from shared import config
from shared.db import make_engine
from shared.unit_of_work import UnitOfWork
from tests.harness import RunEnvironment

SERVICE = "metering"


def sql(statement: str, **params: Any) -> list[dict[str, Any]]:
    """Run `statement` ({t} is metering's audit table) in its own transaction; its rows."""
    engine = make_engine(config.database_url(SERVICE), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement.replace("{t}", f"{SERVICE}.audit_logs")), params)
            return [dict(row) for row in result.mappings()] if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def chain(
    test_environment: RunEnvironment,
    unit_of_work: Callable[[str], AbstractContextManager[UnitOfWork]],
) -> list[int]:
    """Three more rows in metering's chain; their seqs."""
    for number in range(3):
        with unit_of_work(SERVICE) as uow:
            uow.audit("probe.done", "Probe", f"probe-{number}", {"n": number})
    return sorted(row["seq"] for row in sql("SELECT seq FROM {t} ORDER BY seq DESC LIMIT 3"))


def verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, list[str]]]:
    status = main(["audit", "verify", *args])
    out = capsys.readouterr().out
    lines = out.split("\n\n")[0].splitlines()
    assert lines[0].split() == ["service", "rows", "verified", "first", "bad", "seq", "problem"]
    table = {line.split()[0]: line.split(None, 4)[1:] for line in lines[2:]}
    assert ("audit chain broken in" in out) == (status != 0)
    return status, table


def test_intact_chains_pass(chain: list[int], capsys: pytest.CaptureFixture[str]) -> None:
    status, table = verify(capsys)
    assert status == 0
    assert set(table) == set(config.SERVICES)
    rows, verified, first_bad, problem = table[SERVICE]
    assert int(rows) >= 3 and rows == verified
    assert (first_bad, problem) == ("-", "ok")


@pytest.fixture
def restored(chain: list[int]) -> Iterator[list[int]]:
    """Puts metering's chain back as it was, whatever the test did to it."""
    saved = sql("SELECT * FROM {t} WHERE seq = ANY(:s)", s=chain)
    yield chain
    sql("DELETE FROM {t} WHERE seq >= :first OR id = 'forged'", first=chain[0])
    for row in saved:
        columns = ", ".join(f'"{name}"' for name in row)
        values = ", ".join(
            f"CAST(:{name} AS jsonb)" if name == "metadata" else f":{name}" for name in row
        )
        metadata = None if row["metadata"] is None else json.dumps(row["metadata"])
        params = dict(row) | {"metadata": metadata}
        sql(f"INSERT INTO {{t}} ({columns}) VALUES ({values})", **params)


def test_a_changed_metadata_value_fails_verification(
    restored: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    middle = restored[1]
    sql("UPDATE {t} SET metadata = jsonb_set(metadata, '{n}', '7') WHERE seq = :s", s=middle)
    status, table = verify(capsys, "--service", SERVICE)
    assert status == 1
    assert list(table) == [SERVICE]
    assert table[SERVICE][2:] == [str(middle), "row_hash does not match the row (row changed)"]


def test_a_deleted_row_fails_verification(
    restored: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    sql("DELETE FROM {t} WHERE seq = :s", s=restored[1])
    status, table = verify(capsys, "--service", SERVICE)
    assert status == 1
    assert table[SERVICE][2] == str(restored[2])
    assert "missing" in table[SERVICE][3]


def test_an_inserted_row_fails_verification(
    restored: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    last = restored[2]
    sql(
        "INSERT INTO {t} (id, actor_type, action, entity_type, entity_id, timestamp, seq,"
        " prev_hash, row_hash) VALUES ('forged', 'system', 'probe.done', 'Probe', 'x', now(),"
        " :seq, 'not the previous hash', 'not a hash')",
        seq=last + 1,
    )
    status, table = verify(capsys, "--service", SERVICE)
    assert status == 1
    assert table[SERVICE][2] == str(last + 1)
    assert "prev_hash" in table[SERVICE][3]


def test_the_chain_is_intact_again_once_restored(
    chain: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    """The tests above leave nothing behind for the rest of the run."""
    assert verify(capsys, "--service", SERVICE)[0] == 0
