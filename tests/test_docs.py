"""The docs stay true to the code: every setting the suite reads is in the README, and
docs/events.md is the catalogue the event contracts make."""

from __future__ import annotations

from pathlib import Path

from shared import config, event_catalogue

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_documents_every_environment_variable() -> None:
    missing = [s.name for s in config.all_settings() if f"`{s.name}`" not in README]
    assert missing == []


def test_docs_events_md_is_the_event_catalogue() -> None:
    """Regenerate with `.venv/bin/python -m shared.event_catalogue > docs/events.md`."""
    assert (ROOT / "docs" / "events.md").read_text() == event_catalogue.markdown()
