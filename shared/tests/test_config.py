from __future__ import annotations

import pytest

from shared import config


def test_service_database_url_falls_back_to_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://h/common")
    monkeypatch.delenv("BILLING_DATABASE_URL", raising=False)
    monkeypatch.setenv("IDENTITY_DATABASE_URL", "postgresql+psycopg2://h/identity_only")
    assert config.database_url("billing") == "postgresql+psycopg2://h/common"
    assert config.database_url("identity") == "postgresql+psycopg2://h/identity_only"


def test_cors_origins_default_to_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORS_ORIGINS", raising=False)
    assert config.cors_origins() == frozenset()
    monkeypatch.setenv("CORS_ORIGINS", "https://a.test/, https://b.test")
    assert config.cors_origins() == {"https://a.test", "https://b.test"}


def test_every_setting_is_documented_once() -> None:
    names = [s.name for s in config.all_settings()]
    assert len(names) == len(set(names))
    assert all(s.help for s in config.all_settings())
    assert {f"{s.upper()}_DATABASE_URL" for s in config.SERVICES} <= set(names)
