"""One source per email renders both parts: the plain text as written, the HTML with every
value escaped; links are anchors only when they are web addresses; optional paragraphs
show in both parts or in neither."""

from __future__ import annotations

import re
from html import unescape
from string import Template

import pytest

from services.notifications.templates import TEMPLATES, EmailTemplate

HOSTILE = '<script>alert("x")</script> & <b>'


FLAG = re.compile(r"(?:^|\n\n)\?(\w+) ")


def every_value(template: EmailTemplate, value: str) -> dict[str, str | bool]:
    """Each value the template names set to `value` (links to a web address), each flag on."""
    flags = set(FLAG.findall(template.body))
    names = set(Template(template.subject).get_identifiers())
    names |= set(Template(FLAG.sub("\n\n", template.body)).get_identifiers())
    values: dict[str, str | bool] = {
        name: "https://app.cvt.test/x?a=1&b=2" if name.endswith("link") else value for name in names
    }
    return values | {flag: True for flag in flags}


def html_says(html: str) -> str:
    """What an HTML part's paragraphs say (signature left out), tags left out."""
    body = html.split('line-height:1.5">\n', 1)[1].split('\n<p style="color')[0]
    body = body.replace("<br>\n", "\n").replace("</p>\n<p>", "\n\n")
    return unescape(re.sub(r"<[^>]+>", "", body))


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_both_parts_say_the_same_and_the_html_escapes_every_value(name: str) -> None:
    template = TEMPLATES[name]
    rendered = template.render(every_value(template, HOSTILE))

    assert HOSTILE not in rendered.html
    assert "<script>" not in rendered.html
    assert html_says(rendered.html) == rendered.text.split("\n\n-- \n")[0]
    assert "\n" not in rendered.subject


def test_a_link_is_an_anchor_with_the_address_escaped() -> None:
    rendered = TEMPLATES["account-overdue"].render(
        {"organization": "Acme", "link": "https://app.cvt.test/invoices?a=1&b=2"}
    )
    assert (
        '<a href="https://app.cvt.test/invoices?a=1&amp;b=2">'
        "https://app.cvt.test/invoices?a=1&amp;b=2</a>"
    ) in rendered.html
    assert "https://app.cvt.test/invoices?a=1&b=2\n" in rendered.text


def test_a_link_that_is_no_web_address_stays_text() -> None:
    rendered = TEMPLATES["account-overdue"].render(
        {"organization": "Acme", "link": 'javascript:alert("x")'}
    )
    assert "<a " not in rendered.html
    assert "javascript:alert(&quot;x&quot;)" in rendered.html


def test_a_client_message_keeps_its_lines_in_both_parts() -> None:
    message = "Line one\nLine <two>\n\nLine three"
    rendered = TEMPLATES["support-reply"].render(
        {"subject": "Till", "message": message, "link": "https://app.cvt.test/t"}
    )
    assert f"\n\n{message}\n\n" in rendered.text
    assert "<p>Line one<br>\nLine &lt;two&gt;<br>\n<br>\nLine three</p>" in rendered.html


def test_a_paragraph_naming_a_missing_value_is_left_out_of_both_parts() -> None:
    template = EmailTemplate(subject="S", body="Always.\n\nDue: $due\n\nThen.")
    rendered = template.render({"due": None})
    assert rendered.text.startswith("Always.\n\nThen.\n\n-- \n")
    assert "Due" not in rendered.html
    assert "<p>Always.</p>\n<p>Then.</p>" in rendered.html


def test_a_flagged_paragraph_shows_only_when_its_flag_is_true() -> None:
    template = EmailTemplate(subject="S", body="?paid Paid in full.\n\nEnd.")
    shown, hidden = template.render({"paid": True}), template.render({"paid": False})
    assert shown.text.startswith("Paid in full.\n\nEnd.")
    assert "<p>Paid in full.</p>" in shown.html
    assert "?paid" not in shown.text + shown.html
    assert "Paid" not in hidden.text + hidden.html


def test_a_value_the_template_names_but_nobody_gave_is_a_bug_found_at_once() -> None:
    with pytest.raises(KeyError):
        TEMPLATES["account-overdue"].render({"organization": "Acme"})


def test_the_template_text_itself_is_escaped_in_html() -> None:
    rendered = TEMPLATES["support-ticket-reopened"].render(
        {
            "subject": "S",
            "organization_id": "org-1",
            "old_status": "RESOLVED",
            "new_status": "IN_PROGRESS",
            "ticket_id": "tkt-1",
            "link": "https://app.cvt.test/t",
        }
    )
    assert "Status: RESOLVED -&gt; IN_PROGRESS" in rendered.html
    assert "Status: RESOLVED -> IN_PROGRESS" in rendered.text
