"""Known vulnerabilities in the dependencies as installed from pyproject.toml's pins:

    .venv/bin/python -m ops.dependency_audit      # or: make audit

pip-audit reads every distribution in this interpreter's environment (the project itself,
installed editable, aside) and asks its vulnerability service about each exact version.
Exit 0: nothing known with a fix. Exit 1: a vulnerability that a newer release fixes (each
printed with the versions that fix it). Exit 2: the audit could not be made, e.g. the
service is unreachable or does not know a dependency; pip-audit's own message is printed.
A vulnerability without a fix is printed but does not fail: there is nothing to move to.

`--strict` is what keeps an unreachable service from passing: without it pip-audit skips
each dependency it cannot look up and still exits 0.

`--when-reachable` (what `make test`, and so CI, runs after the tests): a fixable
vulnerability still fails (exit 1), but an audit that could not be made is reported in a
banner and passes (exit 0), because a CI machine without a route to any vulnerability
service (this project's, so far) must still be able to land changes. The banner says the
dependencies were NOT audited; the other arguments go to pip-audit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CANNOT_AUDIT = 2


@dataclass(frozen=True)
class Vulnerability:
    package: str
    version: str
    id: str
    fix_versions: tuple[str, ...]

    def __str__(self) -> str:
        fixed = ", ".join(self.fix_versions) or "no fixed release"
        return f"{self.package} {self.version}: {self.id} (fixed in {fixed})"


class AuditFailed(Exception):
    """pip-audit gave no report: its vulnerability service could not answer for every
    dependency."""


def vulnerabilities(report: dict[str, Any]) -> list[Vulnerability]:
    """Every vulnerability in a pip-audit JSON report."""
    return [
        Vulnerability(dep["name"], dep["version"], vuln["id"], tuple(vuln["fix_versions"]))
        for dep in report["dependencies"]
        for vuln in dep.get("vulns", [])
    ]


def pip_audit_report(*extra_args: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "report.json"
        done = subprocess.run(
            [
                sys.executable, "-m", "pip_audit",
                "--strict", "--skip-editable", "--progress-spinner", "off",
                "--format", "json", "--output", str(output), *extra_args,
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        # pip-audit exits 1 both when it finds something and when it fails: only a
        # written report tells the two apart.
        if not output.exists() or not output.read_text().strip():
            raise AuditFailed(last_lines(done.stderr + done.stdout))
        return json.loads(output.read_text())


def last_lines(text: str, count: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-count:]) or "(pip-audit said nothing)"


WHEN_REACHABLE = "--when-reachable"


def main(argv: list[str]) -> int:
    when_reachable = WHEN_REACHABLE in argv
    pip_audit_args = [arg for arg in argv if arg != WHEN_REACHABLE]
    try:
        report = pip_audit_report(*pip_audit_args)
    except AuditFailed as failed:
        print(f"dependency audit could not be made:\n{failed}", file=sys.stderr)
        if when_reachable:
            rule = "=" * 72
            print(
                f"{rule}\nDEPENDENCIES NOT AUDITED: the vulnerability service could not "
                "answer for every dependency (see above).\nPassing because of "
                f"{WHEN_REACHABLE}; run `make audit` where one answers.\n{rule}",
                file=sys.stderr,
            )
            return 0
        return CANNOT_AUDIT
    found = vulnerabilities(report)
    fixable = [v for v in found if v.fix_versions]
    audited = len(report["dependencies"])
    for vulnerability in found:
        print(("FIXABLE " if vulnerability.fix_versions else "no fix  ") + str(vulnerability))
    print(f"{audited} dependencies audited: {len(fixable)} fixable, {len(found)} known in all")
    return 1 if fixable else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
