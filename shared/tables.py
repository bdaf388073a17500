"""Platform tables that live in every service's own database (outbox, inbox, API keys, audit trail).

They are SQLAlchemy Core tables on their own MetaData: each service's Alembic history creates them
next to its domain tables, and the mechanism code reads and writes them with bulk statements.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

platform_metadata = MetaData()

# Integer on SQLite so the key is the ROWID and autoincrements; BIGINT elsewhere.
_Seq = BigInteger().with_variant(Integer(), "sqlite")

outbox = Table(
    "outbox",
    platform_metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(200), nullable=False),
    Column("source", String(100), nullable=False),
    Column("subject", String(200)),
    Column("correlation_id", String(64)),
    # W3C trace context the event was written in (shared/tracing.py); published with it.
    Column("traceparent", String(64)),
    Column("tracestate", Text),
    Column("payload", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    # Only unpublished rows are indexed: the relay's scan stays small however long the history.
    Index(
        "ix_outbox_pending",
        "seq",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)

inbox = Table(
    "inbox",
    platform_metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("event_type", String(200), nullable=False),
    Column("handled_at", DateTime(timezone=True), nullable=False),
)

api_key = Table(
    "api_key",
    platform_metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("key_id", String(16), nullable=False),  # shared.auth.key_id: how lists and records name it
    Column("role", String(20), nullable=False),
    Column("department", String(20)),
    Column("label", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_api_key_key_id", "key_id", unique=True),
)

# shared/audit.py: one row per change a use case made, written in the change's own transaction.
audit = Table(
    "audit",
    platform_metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(120), nullable=False),  # Principal.who, "event <type>", "job <name>": never a secret
    Column("resource_type", String(40), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("action", String(40), nullable=False),
    Column("changes", Text, nullable=False),  # JSON {field: [old, new]}, personal values masked
    Column("correlation_id", String(64)),
    # A resource's history and an actor's changes, newest first, are each one index range.
    Index("ix_audit_resource", "resource_type", "resource_id", "seq"),
    Index("ix_audit_actor", "actor", "seq"),
)

# shared/subject_requests.py: an admin's request for a person's data (export) or its erasure, answered
# by every service over the bus and collected here, in the database of the service that was asked.
subject_request = Table(
    "subject_request",
    platform_metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(10), nullable=False),  # export | erase
    Column("step", String(10), nullable=False),  # export; or find, then erase
    Column("status", String(10), nullable=False),  # pending | complete
    # Held while the request runs; an erasure's are dropped when it completes (only `subject` stays).
    Column("email", String(320)),
    Column("names", Text),  # JSON list
    Column("subject", String(320), nullable=False),  # the email masked: how lists and logs name it
    Column("requested_by", String(120), nullable=False),  # Principal.who: never a secret
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Column("result", Text),  # JSON: each service's answer, once all have answered
    Index("ix_subject_request_status", "status", "requested_at"),
)

subject_answer = Table(
    "subject_answer",
    platform_metadata,
    Column("request_id", String(36), primary_key=True),
    Column("service", String(100), primary_key=True),
    Column("step", String(10), primary_key=True),
    Column("answer", Text, nullable=False),  # JSON
    Column("answered_at", DateTime(timezone=True), nullable=False),
)
