"""The README stays true to the code: every setting the suite reads is documented."""

from __future__ import annotations

from pathlib import Path

from shared import config

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_documents_every_environment_variable() -> None:
    missing = [s.name for s in config.all_settings() if f"`{s.name}`" not in README]
    assert missing == []
