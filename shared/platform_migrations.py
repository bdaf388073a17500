"""Migration steps for the platform tables every service database has (outbox, inbox, api_key, audit).

Each service's own Alembic history calls these from its revisions. A step, once released, never
changes (old revisions must keep building the same schema): a change to the platform tables is a
new step (`upgrade_v2`) that each service adds in a new revision of its own.
"""

import sqlalchemy as sa
from alembic import op


def upgrade_v1() -> None:
    op.create_table(
        "api_key",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("department", sa.String(length=20), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_hash"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_outbox_pending", "outbox", ["seq"], unique=False,
                    postgresql_where=sa.text("published_at IS NULL"), sqlite_where=sa.text("published_at IS NULL"))


def downgrade_v1() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("inbox")
    op.drop_table("api_key")


def upgrade_v2() -> None:
    """api_key: a key is named by an id derived from its digest (shared.auth.key_id); the first
    characters of the key itself, stored until now, go. A service that recorded those prefixes
    elsewhere rewrites them first, while `prefix` still maps them to keys."""
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    op.execute("UPDATE api_key SET key_id = 'key_' || substr(key_hash, 1, 12)")
    with op.batch_alter_table("api_key") as batch:
        batch.alter_column("key_id", existing_type=sa.String(length=16), nullable=False)
        batch.drop_column("prefix")
        batch.create_index("ix_api_key_key_id", ["key_id"], unique=True)


def downgrade_v2() -> None:
    # The keys' prefixes are gone for good: the ids stand in for them.
    with op.batch_alter_table("api_key") as batch:
        batch.drop_index("ix_api_key_key_id")
        batch.add_column(sa.Column("prefix", sa.String(length=16), nullable=True))
    op.execute("UPDATE api_key SET prefix = key_id")
    with op.batch_alter_table("api_key") as batch:
        batch.alter_column("prefix", existing_type=sa.String(length=16), nullable=False)
        batch.drop_column("key_id")


def key_ids_for_prefixes() -> dict[str, str]:
    """{stored key prefix: key id}, for a service's own revision to rewrite recorded prefixes
    before `upgrade_v2` drops them (a prefix not found was an environment key's)."""
    rows = op.get_bind().execute(sa.text("SELECT prefix, key_hash FROM api_key")).all()
    return {prefix: "key_" + key_hash[:12] for prefix, key_hash in rows}


def upgrade_v3() -> None:
    """outbox: the W3C trace context each event was written in (shared/tracing.py), so the relay
    publishes it with the event and its consumers continue the same trace."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("tracestate", sa.Text(), nullable=True))


def downgrade_v3() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("tracestate")
        batch.drop_column("traceparent")


def upgrade_v4() -> None:
    """audit: who changed what, and when (shared/audit.py)."""
    op.create_table(
        "audit",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_audit_resource", "audit", ["resource_type", "resource_id", "seq"])
    op.create_index("ix_audit_actor", "audit", ["actor", "seq"])


def downgrade_v4() -> None:
    op.drop_index("ix_audit_actor", table_name="audit")
    op.drop_index("ix_audit_resource", table_name="audit")
    op.drop_table("audit")


def upgrade_v5() -> None:
    """subject_request, subject_answer: a person's export or erasure across services (shared/subject_requests.py)."""
    op.create_table(
        "subject_request",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("step", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("names", sa.Text(), nullable=True),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("requested_by", sa.String(length=120), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subject_request_status", "subject_request", ["status", "requested_at"])
    op.create_table(
        "subject_answer",
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("service", sa.String(length=100), nullable=False),
        sa.Column("step", sa.String(length=10), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "service", "step"),
    )


def downgrade_v5() -> None:
    op.drop_table("subject_answer")
    op.drop_index("ix_subject_request_status", table_name="subject_request")
    op.drop_table("subject_request")
