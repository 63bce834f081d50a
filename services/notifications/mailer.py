"""Sending mail over SMTP."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from nameko.extensions import DependencyProvider

from services.notifications.templates import header_safe
from shared import config


def compose_message(
    sender: str, to: str, subject: str, text: str, html: str, message_id: str
) -> EmailMessage:
    """multipart/alternative: the plain-text part first, the HTML part (preferred by
    clients that show HTML) last."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to  # an address that cannot be a header raises ValueError: permanent
    message["Subject"] = header_safe(subject)
    message["Message-ID"] = message_id
    message.set_content(text.replace("\x00", ""))
    message.add_alternative(html.replace("\x00", ""), subtype="html")
    return message


class SmtpMailer:
    def __init__(self) -> None:
        self.host = config.SMTP_HOST.get()
        self.port = int(config.SMTP_PORT.get())
        self.sender = config.MAIL_FROM.get()

    def send(self, to: str, subject: str, text: str, html: str, message_id: str) -> None:
        message = compose_message(self.sender, to, subject, text, html, message_id)
        with smtplib.SMTP(self.host, self.port, timeout=15) as smtp:
            if config.flag(config.SMTP_STARTTLS):
                smtp.starttls()
            if config.SMTP_USERNAME.get():
                smtp.login(config.SMTP_USERNAME.get(), config.SMTP_PASSWORD.get())
            smtp.send_message(message)


class Mailer(DependencyProvider):
    def setup(self) -> None:
        self.mailer = SmtpMailer()

    def get_dependency(self, worker_ctx: Any) -> SmtpMailer:
        return self.mailer
