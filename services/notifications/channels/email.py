"""Email over SMTP (aiosmtplib) or, with no server configured, to .eml files."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from pathlib import Path

import aiosmtplib

from services.notifications.channels import Outcome, Target
from services.notifications.rendering import Message
from services.notifications.settings import NotificationsSettings
from shared.logging import get_logger

log = get_logger("notifications.email")


class MailPolicy(EmailPolicy):
    """RFC 5322 lines (CRLF, folded at 78) and 7-bit bodies any relay takes. The subject is folded
    here: Python's folder may break it right after "Subject:" (strict readers then see a leading
    space) or double a space before an encoded word."""

    def fold(self, name: str, value: str) -> str:
        return self._fold_subject(name, str(value)) if name.lower() == "subject" else super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() != "subject":
            return super().fold_binary(name, value)
        return self._fold_subject(name, str(value)).encode("ascii")

    def _fold_subject(self, name: str, subject: str) -> str:
        width = self.max_line_length or 998
        if not subject.isascii() or "=?" in subject:
            # Encoded words throughout (RFC 2047): the folds between them are not part of the text.
            encoded = Header(subject, "utf-8", header_name=name, maxlinelen=width).encode(linesep=self.linesep)
            return f"{name}: {encoded}{self.linesep}"
        lines = [f"{name}:"]
        for word in subject.split(" "):  # each space is a place to fold; a long word stays whole
            if len(lines[-1]) + 1 + len(word) > width and len(lines[-1]) > len(name) + 1:
                lines.append("")
            lines[-1] += " " + word
        return self.linesep.join(lines) + self.linesep


MAIL_POLICY = MailPolicy(linesep="\r\n", cte_type="7bit")


class Mailer:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings
        # Message-IDs end in the sender's domain (RFC 5322 §3.6.4: one the sender is responsible for).
        self._quitting: set[asyncio.Task[None]] = set()  # sessions being ended after their mail was accepted
        _, at, self.domain = parseaddr(settings.smtp_from)[1].rpartition("@")
        if not (at and self.domain):
            raise ValueError(f"SMTP_FROM {settings.smtp_from!r} has no address with a domain, e.g. alerts@city.example")

    async def send(self, target: Target, message: Message) -> Outcome:
        mail = self._compose(target, message)
        if self.settings.smtp_host:
            return await self._smtp(mail, target)
        if self.settings.mail_dir is not None:
            return await asyncio.to_thread(self._file, mail, target, Path(self.settings.mail_dir))
        return Outcome("skipped", error="no SMTP server configured (SMTP_HOST) and no mail folder")

    def _compose(self, target: Target, message: Message) -> EmailMessage:
        mail = EmailMessage(policy=MAIL_POLICY)
        mail["From"] = self.settings.smtp_from
        mail["To"] = target.address
        mail["Subject"] = message.subject
        mail["Date"] = format_datetime(datetime.now().astimezone())
        # One Message-ID per delivery: a resend after a crash is recognisably the same message.
        mail["Message-ID"] = f"<{target.delivery_id}@{self.domain}>"
        mail["X-Diplomacity-Event-Id"] = target.event_id
        mail.set_content(message.text)
        mail.add_alternative(message.html, subtype="html")
        return mail

    async def _smtp(self, mail: EmailMessage, target: Target) -> Outcome:
        s = self.settings
        client = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
                                 password=s.smtp_password, start_tls=s.smtp_starttls, timeout=s.smtp_timeout_seconds)
        try:
            await client.connect()
            # Sent as flattened here: aiosmtplib would flatten it again with a policy of its own.
            await client.sendmail(parseaddr(s.smtp_from)[1], [target.address], bytes(mail))
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            return Outcome.failed(f"SMTP {exc.code} {exc.message}", status_code=exc.code, permanent=exc.code >= 500)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            return Outcome.failed(f"SMTP {type(exc).__name__}: {exc}")
        except BaseException:
            client.close()
            raise
        # The server has the mail once it answered its data: the outcome goes to be recorded now, and
        # the session ends after (waiting for the answer to QUIT first would be a window in which a
        # crash sends the mail again).
        quitting = asyncio.create_task(_quit(client))
        self._quitting.add(quitting)
        quitting.add_done_callback(self._quitting.discard)
        return Outcome("sent", status_code=250)

    def _file(self, mail: EmailMessage, target: Target, folder: Path) -> Outcome:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{target.delivery_id}.eml"
        # Written aside, then renamed: a reader of the folder never sees half a mail.
        partial = path.with_suffix(".eml.part")
        partial.write_bytes(bytes(mail))
        partial.replace(path)
        return Outcome("sent", error=None)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
        # The mail was accepted before: a server that hangs up without answering QUIT changes nothing.
        log.info("SMTP session not ended politely after an accepted mail", error=f"{type(exc).__name__}: {exc}")
    finally:
        client.close()
