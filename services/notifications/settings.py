from pathlib import Path

from pydantic import Field

from shared.outbound import OutboundSettings
from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings, OutboundSettings):
    service_name = "notifications"
    port: int = 8004
    # Retention (shared/retention.py): finished deliveries with their attempts and the events they
    # were rendered from, and feed items, are deleted this long after they were made.
    delivery_log_retention_days: int = Field(365, ge=1)
    feed_retention_days: int = Field(365, ge=1)

    # Mail (the names the deployment docs give: SMTP_HOST …). No SMTP_HOST: mail is written as
    # .eml files to `mail_dir` (the embedded default sets it to <data>/mail), or, without that
    # either, skipped with the reason in the delivery log.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = Field(None, repr=False)
    smtp_starttls: bool = True
    smtp_from: str = "Diplomacity <alerts@diplomacity.invalid>"
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    mail_dir: Path | None = None

    webhook_timeout_seconds: float = Field(10.0, gt=0)
    # What the webhook services accept per URL (Slack: about one message a second; Teams
    # Workflows: a few). A 429's Retry-After also holds that URL's later messages.
    slack_rate_per_second: float = Field(1.0, gt=0)
    teams_rate_per_second: float = Field(4.0, gt=0)
    # Webhook URLs: https, to public addresses only (OUTBOUND_ALLOW, ALLOW_HTTP_LOOPBACK: OutboundSettings).

    # Delivery worker: deliveries claimed per round, how long a claim holds (a crashed worker's
    # claims are taken over after this), and the poll interval when nothing wakes it.
    delivery_batch: int = Field(50, ge=1)
    delivery_lease_seconds: float = Field(30.0, gt=0)
    delivery_poll_seconds: float = Field(1.0, gt=0)
    # The first retry waits about this long; each next one twice as long (with jitter, capped at
    # retry_cap_seconds; never less than a 429's Retry-After). A delivery is dead when it has failed
    # for retry_budget_seconds (counted from its first failure), or at once when refused for good.
    retry_base_seconds: float = Field(2.0, gt=0)
    retry_cap_seconds: float = Field(600.0, gt=0)
    delivery_retry_budget_seconds: float = Field(6 * 3600.0, gt=0)
    # A receiver (webhook host, SMTP server) failing this many times in a row is left alone for the
    # cool-down: its due deliveries are postponed, not attempted; then one goes through as a probe.
    breaker_failures: int = Field(5, ge=1)
    breaker_cooldown_seconds: float = Field(60.0, gt=0)
    # Outcomes are written here (fsync'd) before the database, and replayed before the first claim:
    # a crash between a send and its commit does not send again. None: no journal.
    delivery_journal_dir: Path | None = None
    # Sends in flight at once (across recipients; each webhook still keeps its own rate).
    delivery_concurrency: int = Field(16, ge=1)
