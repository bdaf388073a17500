"""Email over SMTP (aiosmtplib) or, with no server configured, to .eml files."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aiosmtplib

from services.notifications.channels import Outcome, Target
from services.notifications.rendering import Message
from services.notifications.settings import NotificationsSettings


class Mailer:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings

    async def send(self, target: Target, message: Message) -> Outcome:
        mail = self._compose(target, message)
        if self.settings.smtp_host:
            return await self._smtp(mail)
        if self.settings.mail_dir is not None:
            return await asyncio.to_thread(self._file, mail, target, Path(self.settings.mail_dir))
        return Outcome("skipped", error="no SMTP server configured (SMTP_HOST) and no mail folder")

    def _compose(self, target: Target, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.settings.smtp_from
        mail["To"] = target.address
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(datetime.now().astimezone())
        # One Message-ID per delivery: a resend after a crash is recognisably the same message.
        mail["Message-ID"] = make_msgid(idstring=target.delivery_id, domain="diplomacity")
        mail["X-Diplomacity-Event-Id"] = target.event_id
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        return mail

    async def _smtp(self, mail: EmailMessage) -> Outcome:
        s = self.settings
        try:
            await aiosmtplib.send(mail, hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
                                  password=s.smtp_password, start_tls=s.smtp_starttls, timeout=s.smtp_timeout_seconds)
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome.failed(f"SMTP {exc.code} {exc.message}", status_code=exc.code, permanent=exc.code >= 500)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            return Outcome.failed(f"SMTP {type(exc).__name__}: {exc}")
        return Outcome("sent", status_code=250)

    def _file(self, mail: EmailMessage, target: Target, folder: Path) -> Outcome:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{target.delivery_id}.eml"
        # Written aside, then renamed: a reader of the folder never sees half a mail.
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(bytes(mail))
        partial.replace(path)
        return Outcome("sent", error=None)
