"""The schema, as SQLAlchemy Core tables. Migrations in `workflows/migrations` create the same."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite (naive storage) and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; all times are UTC-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Column("details", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_subject", "subject", "id"),
    sa.Index("ix_audit_actor", "actor", "id"),
    sa.Index("ix_audit_at", "at"),
)

# One row (id = 1): the chain's head. Locking it serialises appends across replicas.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("last_hash", sa.String(64), nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    sa.Column("recipient", sa.String(64), nullable=False),  # user id (DM) or channel id
    sa.Column("kind", sa.String(64), nullable=False),  # which renderer turns `data` into a message
    sa.Column("op", sa.String(16), nullable=False, server_default="post"),  # post | update
    sa.Column("card_key", sa.String(128)),  # post: remember (channel, ts) under it; update: edit it
    sa.Column("thread_key", sa.String(128)),  # post as a reply in the thread of this card
    sa.Column("data", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime()),  # NULL: as soon as possible (set after a failure)
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("lease_until", UTCDateTime()),
    sa.Column("sent_at", UTCDateTime()),
    sa.Column("last_error", sa.String(200)),
    sa.Index("ix_outbox_pending", "sent_at", "recipient", "id"),
)

# Where each card was posted, so that any later decision can update every copy of it.
slack_cards = sa.Table(
    "slack_cards",
    metadata,
    sa.Column("card_key", sa.String(128), primary_key=True),
    sa.Column("recipient", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("ts", sa.String(32), nullable=False),
)

processed_events = sa.Table(
    "processed_events",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("is_bot", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("is_guest", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("tz", sa.String(64)),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), primary_key=True),
)

acknowledgements = sa.Table(
    "acknowledgements",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("agreement_id", sa.String(64), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("user_id", "agreement_id", "version", name="uq_ack_user_agreement_version"),
)

access_requests = sa.Table(
    "access_requests",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False, server_default="new"),  # new | extend
    sa.Column("grant_id", sa.Integer()),  # the grant an extension is for
    sa.Column("secret_id", sa.String(64), nullable=False),
    sa.Column("requester", sa.String(32), nullable=False),
    sa.Column("duration_hours", sa.Integer(), nullable=False),
    sa.Column("justification", sa.Text(), nullable=False),
    sa.Column("approvals_needed", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | approved | denied | expired | cancelled
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime()),
    sa.Column("decided_by", sa.String(32)),
    sa.Column("reason", sa.Text()),
    sa.Column("remind_at", UTCDateTime()),  # the sweep reminds approvers then
    sa.Column("expires_at", UTCDateTime()),  # the sweep expires the request then
    sa.Index("ix_requests_requester", "requester", "status"),
    sa.Index("ix_requests_pending_remind", "status", "remind_at"),
    sa.Index("ix_requests_pending_expiry", "status", "expires_at"),
)

request_approvers = sa.Table(
    "request_approvers",
    metadata,
    sa.Column("request_id", sa.Integer(), primary_key=True),
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("approved_at", UTCDateTime()),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("secret_id", sa.String(64), nullable=False),
    sa.Column("grantee", sa.String(32), nullable=False),
    sa.Column("request_id", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # active | expired | revoked
    sa.Column("granted_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("review_due_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime()),
    sa.Column("ended_by", sa.String(32)),
    sa.Column("end_reason", sa.Text()),
    sa.Index("ix_grants_grantee_expiry", "grantee", "status", "expires_at"),  # a person's grants, by expiry
    sa.Index("ix_grants_secret", "secret_id", "status"),
    sa.Index("ix_grants_expiry", "status", "expires_at"),
    sa.Index("ix_grants_review", "status", "review_due_at"),
)
