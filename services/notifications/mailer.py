"""Sending mail over SMTP."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from nameko.extensions import DependencyProvider

from services.notifications.templates import header_safe
from shared import config


class SmtpMailer:
    def __init__(self) -> None:
        self.host = config.SMTP_HOST.get()
        self.port = int(config.SMTP_PORT.get())
        self.sender = config.MAIL_FROM.get()

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to  # an address that cannot be a header raises ValueError: permanent
        message["Subject"] = header_safe(subject)
        message["Message-ID"] = make_msgid(domain="cvt.co.zw")
        message.set_content(body.replace("\x00", ""))
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
