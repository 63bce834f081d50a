"""What goes to SMTP: one message with a plain-text and an HTML part, and a subject that is
one header line whatever it holds."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

from services.notifications.mailer import compose_message


def test_a_message_has_a_plain_text_and_an_html_part() -> None:
    message = compose_message(
        "CVT <billing@cvt.co.zw>",
        "ops@acme.co.zw, tendai@acme.co.zw",
        "Receipt\r\nBcc: everyone@example.com",
        "Hello Acme,\n",
        "<p>Hello Acme,</p>",
        "<c123@cvt.co.zw>",
    )
    received = message_from_bytes(message.as_bytes(), policy=default)

    assert received.get_content_type() == "multipart/alternative"
    assert received["To"] == "ops@acme.co.zw, tendai@acme.co.zw"
    assert received["Subject"] == "Receipt Bcc: everyone@example.com"
    assert received["Bcc"] is None
    assert received["Message-ID"] == "<c123@cvt.co.zw>"
    assert received.get_body(("plain",)).get_content() == "Hello Acme,\n"
    assert received.get_body(("html",)).get_content().strip() == "<p>Hello Acme,</p>"
