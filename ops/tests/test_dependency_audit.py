from __future__ import annotations

from typing import Any

import pytest

from ops import dependency_audit
from ops.dependency_audit import CANNOT_AUDIT, AuditFailed, Vulnerability, main, vulnerabilities

# As pip-audit 2.10 writes it with `--format json`.
REPORT = {
    "dependencies": [
        {"name": "requests", "version": "2.34.2", "vulns": []},
        {
            "name": "werkzeug",
            "version": "2.3.0",
            "vulns": [
                {"id": "GHSA-q34m-jh98-gwm2", "fix_versions": ["3.0.6"], "aliases": []},
                {"id": "PYSEC-2099-1", "fix_versions": [], "aliases": []},
            ],
        },
    ],
    "fixes": [],
}


def reporting(report: dict[str, Any]) -> Any:
    return lambda *args: report


def unreachable(*args: str) -> dict[str, Any]:
    raise AuditFailed("Failed to resolve 'api.osv.dev'")


def test_every_vulnerability_is_read_with_its_fixes() -> None:
    assert vulnerabilities(REPORT) == [
        Vulnerability("werkzeug", "2.3.0", "GHSA-q34m-jh98-gwm2", ("3.0.6",)),
        Vulnerability("werkzeug", "2.3.0", "PYSEC-2099-1", ()),
    ]


def test_a_vulnerability_with_a_fix_fails_the_audit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dependency_audit, "pip_audit_report", reporting(REPORT))
    assert main([]) == 1
    out = capsys.readouterr().out
    assert "FIXABLE werkzeug 2.3.0: GHSA-q34m-jh98-gwm2 (fixed in 3.0.6)" in out
    assert "2 dependencies audited: 1 fixable, 2 known in all" in out


def test_only_vulnerabilities_without_a_fix_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    unfixable = {
        "dependencies": [
            {"name": "x", "version": "1", "vulns": [{"id": "PYSEC-1", "fix_versions": []}]}
        ]
    }
    monkeypatch.setattr(dependency_audit, "pip_audit_report", reporting(unfixable))
    assert main([]) == 0


def test_an_audit_that_could_not_be_made_fails_on_its_own_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dependency_audit, "pip_audit_report", unreachable)
    assert main([]) == CANNOT_AUDIT
    assert "Failed to resolve 'api.osv.dev'" in capsys.readouterr().err


def test_when_reachable_passes_an_audit_that_could_not_be_made_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dependency_audit, "pip_audit_report", unreachable)
    assert main(["--when-reachable"]) == 0
    assert "DEPENDENCIES NOT AUDITED" in capsys.readouterr().err


def test_when_reachable_still_fails_on_a_fixable_vulnerability(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passed: list[tuple[str, ...]] = []

    def report(*args: str) -> dict[str, Any]:
        passed.append(args)
        return REPORT

    monkeypatch.setattr(dependency_audit, "pip_audit_report", report)
    assert main(["--when-reachable", "--timeout", "5"]) == 1
    assert passed == [("--timeout", "5")]


def test_a_service_that_cannot_be_reached_gives_no_report() -> None:
    """The real pip-audit, pointed at an OSV address nothing listens on: it must not pass."""
    with pytest.raises(AuditFailed, match=r"127\.0\.0\.1"):
        dependency_audit.pip_audit_report(
            "--vulnerability-service", "osv", "--osv-url", "http://127.0.0.1:9/v1/query",
            "--timeout", "2",
        )  # fmt: skip
