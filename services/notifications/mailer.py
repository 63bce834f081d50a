"""Sending mail over SMTP."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from nameko.extensions import DependencyProvider

from shared import config

# Control characters (CR/LF above all) would let a value end a header and start another;
# names and subjects come from clients, so they are flattened, never trusted.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def header_safe(value: str) -> str:
    return _CONTROL.sub(" ", value).strip()


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
