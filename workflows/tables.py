"""The schema, as SQLAlchemy Core tables. Migrations in `workflows/migrations` create the same."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        """On SQLite, the text SQLAlchemy's DATETIME stores, written by `isoformat` in C rather than
        by SQLAlchemy's formatting in Python (a tenth of a write's CPU: every row has times)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_datetime_text

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_datetime_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database; all times are UTC-aware")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _audit_entry_columns(key: str) -> list[sa.Column[Any]]:
    """An audit entry's own columns, after its key (`key`): the chain and its queue both hold them."""
    return [
        sa.Column(
            key, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
    ]


audit_log = sa.Table(
    "audit_log",
    metadata,
    *_audit_entry_columns("id"),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_subject", "subject", "id"),
    sa.Index("ix_audit_actor", "actor", "id"),
    sa.Index("ix_audit_at", "at"),
)

# Entries committed with their state change and not yet in the chain: a sealer moves them into
# `audit_log`, hashed, in the order it finds them (workflows/audit.py says why).
audit_unsealed = sa.Table("audit_unsealed", metadata, *_audit_entry_columns("seq"))

# One row (id = 1): the chain's head. Locking it makes sealers (and sweeps) take turns across replicas.
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
    # PostgreSQL: the unsent messages in order (migration 0013), of which the deliverer reads the
    # oldest few (`outbox.due_heads`).
    sa.Index("ix_outbox_unsent", "id", postgresql_where=sa.text("sent_at IS NULL")).ddl_if(
        dialect="postgresql"
    ),
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

# Each agreement version as Confide first saw it in the catalog: when it was published, and what it said
# about itself (a case needs to know whether the version someone acknowledged carried the DTSA notice,
# long after the catalog has moved on).
agreement_versions = sa.Table(
    "agreement_versions",
    metadata,
    sa.Column("agreement_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("url", sa.Text()),
    sa.Column("applies_to", sa.String(16), nullable=False),
    sa.Column("dtsa_notice", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
)

# Who owes which agreement version, since when. `due_days` counts from `owed_from`; the sweep claims
# rows whose `due_at` (the next reminder) has come. `due_at` is NULL when nothing is due: acknowledged
# (and no renewal), out of scope, or the version was superseded.
agreement_obligations = sa.Table(
    "agreement_obligations",
    metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("agreement_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("first_owed_at", UTCDateTime(), nullable=False),  # when this person first owed this version
    sa.Column("owed_from", UTCDateTime()),  # owed (again) from then; NULL once acknowledged for good
    sa.Column("acknowledged_at", UTCDateTime()),
    sa.Column("due_at", UTCDateTime()),
    sa.Column("last_notified_at", UTCDateTime()),
    sa.Column("notify_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Index("ix_obligations_due", "due_at"),
    sa.Index("ix_obligations_agreement", "agreement_id", "version"),
)

# An outstanding agreement escalated to the admins and the security channel: at most once per person,
# version and owed period (`owed_from`; a renewal owes it anew). Its own table, not a column of
# agreement_obligations, so that its migration needs no other branch's table.
agreement_escalations = sa.Table(
    "agreement_escalations",
    metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("agreement_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("owed_from", UTCDateTime(), primary_key=True),
    sa.Column("escalated_at", UTCDateTime(), nullable=False),
    sa.Column("reminders", sa.Integer(), nullable=False),
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
    sa.Column("remind_count", sa.Integer(), nullable=False, server_default="0"),  # migration 0005
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
    # Sweep bookkeeping (migration 0005). Each *_at column below is "when the sweep must act next";
    # NULL means nothing to do, so the indexes on them hold only work that is or will be due.
    sa.Column("expiry_warn_at", UTCDateTime()),  # expires_at - 24 h; cleared once the grantee is warned
    sa.Column("expiry_warned_at", UTCDateTime()),
    sa.Column("review_notify_at", UTCDateTime()),  # review_due_at, then every review_reminder_days
    sa.Column("review_notify_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("review_escalated_at", UTCDateTime()),
    sa.Column("reviewed_at", UTCDateTime()),  # the last Keep
    sa.Column("reviewed_by", sa.String(32)),
    sa.Index("ix_grants_grantee_expiry", "grantee", "status", "expires_at"),  # a person's grants, by expiry
    sa.Index("ix_grants_secret", "secret_id", "status"),
    sa.Index("ix_grants_expiry", "status", "expires_at"),
    sa.Index("ix_grants_review", "status", "review_due_at"),
    sa.Index("ix_grants_expiry_warning", "status", "expiry_warn_at"),
    sa.Index("ix_grants_review_notify", "status", "review_notify_at"),
)

# Periodic jobs that must run once per slot across every replica (the weekly digest): the first
# sweep to insert (job, slot) does the work.
periodic_runs = sa.Table(
    "periodic_runs",
    metadata,
    sa.Column("job", sa.String(32), primary_key=True),
    sa.Column("slot", UTCDateTime(), primary_key=True),
    sa.Column("ran_at", UTCDateTime(), nullable=False),
)

# One row (id = 1): how far the audit log has been forwarded to the SIEM. The audit log is itself the
# outbox for forwarding; this cursor (and a lease, so one replica forwards at a time) is all it needs.
audit_forwarding = sa.Table(
    "audit_forwarding",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("last_id", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("lease_until", UTCDateTime()),
    sa.Column("next_attempt_at", UTCDateTime()),
    sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(200)),
)

# Insider-risk alerts. At most one per (kind, subject) per window, which the raiser checks.
signal_alerts = sa.Table(
    "signal_alerts",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(64), nullable=False),  # a user id, or "receipt-keys" (counts, no people)
    sa.Column("raised_at", UTCDateTime(), nullable=False),
    sa.Column("evidence", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),  # open | case-opened
    sa.Column("case_ref", sa.String(32)),
    sa.Column("handled_by", sa.String(32)),
    sa.Column("handled_at", UTCDateTime()),
    sa.Index("ix_signal_alerts_kind_subject", "kind", "subject", "raised_at"),
)

# Values generated once per installation (the receipt-key salt). Never logged.
installation = sa.Table(
    "installation",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

# Leak cases. An anonymous case holds nothing that identifies its reporter: `reporter` is NULL and
# `created_at` is the start of the day it was filed.
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("secret_id", sa.String(64)),  # NULL: "Not sure / other"
    sa.Column("what_happened", sa.Text(), nullable=False),
    sa.Column("where_when", sa.Text()),
    sa.Column("evidence_links", sa.Text()),
    sa.Column("anonymous", sa.Boolean(), nullable=False),
    sa.Column("reporter", sa.String(32)),  # named reports only
    sa.Column("receipt_hash", sa.String(64)),  # scrypt of the receipt key; the key itself is never stored
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("assignee", sa.String(32)),
    sa.Column("subject_user", sa.String(32)),  # the person suspected, once an investigator names them
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime()),
    sa.Column("ack_due_at", UTCDateTime()),  # the case must be taken by then; NULL once taken
    sa.Column("feedback_due_at", UTCDateTime()),  # the reporter must hear back by then
    sa.Column("last_notified_at", UTCDateTime()),
    sa.Column("notify_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Index("ix_cases_receipt", "receipt_hash", unique=True),
    sa.Index("ix_cases_ack_due", "status", "ack_due_at"),
    sa.Index("ix_cases_feedback_due", "status", "feedback_due_at"),
)

case_messages = sa.Table(
    "case_messages",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),  # to_reporter | from_reporter
    sa.Column("author", sa.String(32)),  # NULL for an anonymous reporter
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),  # day precision for an anonymous reporter
    sa.Index("ix_case_messages_case", "case_id", "id"),
)

# Append-only: nothing updates or deletes a row; each row's digest is in its audit entry.
case_evidence = sa.Table(
    "case_evidence",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("link", sa.Text()),
    sa.Column("sha256", sa.String(64)),
    sa.Column("added_by", sa.String(32), nullable=False),
    sa.Column("added_at", UTCDateTime(), nullable=False),
    sa.Index("ix_case_evidence_case", "case_id", "id"),
)

case_legal_actions = sa.Table(
    "case_legal_actions",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("action_date", sa.Date(), nullable=False),
    sa.Column("counterparty", sa.String(200), nullable=False),
    sa.Column("status", sa.String(100), nullable=False),
    sa.Column("notes", sa.Text()),
    sa.Column("subject_user", sa.String(32)),
    sa.Column("dtsa_notice", sa.Boolean()),  # whether the subject's agreements carried it, when recorded
    sa.Column("recorded_by", sa.String(32), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Index("ix_case_legal_case", "case_id", "id"),
)

# Wrong receipt keys per hour, for spotting guessing; nothing about who tried.
receipt_failures = sa.Table(
    "receipt_failures",
    metadata,
    sa.Column("hour", UTCDateTime(), primary_key=True),
    sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
)

# Every quiz attempt, kept forever: the passes are the completions (evidence), the failures show effort.
training_attempts = sa.Table(
    "training_attempts",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("training_id", sa.String(64), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("correct", sa.Integer(), nullable=False),
    sa.Column("total", sa.Integer(), nullable=False),
    sa.Column("passed", sa.Boolean(), nullable=False),
    sa.Index("ix_training_attempts_user", "user_id", "training_id", "version"),
    sa.Index("ix_training_attempts_training", "training_id", "version", "passed"),
)

# Who owes which training version, since when (like agreement_obligations). `due_at` is the next
# reminder: owed_from + due_days the first time, the day a refresher falls due after a pass; NULL when
# nothing is due (passed without refreshers, out of scope, or the version was superseded).
training_obligations = sa.Table(
    "training_obligations",
    metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("training_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("first_owed_at", UTCDateTime(), nullable=False),
    sa.Column("owed_from", UTCDateTime()),  # owed (again) from then; NULL once passed for good
    sa.Column("passed_at", UTCDateTime()),  # the latest pass
    sa.Column("due_at", UTCDateTime()),
    sa.Column("last_notified_at", UTCDateTime()),
    sa.Column("notify_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Index("ix_training_obligations_due", "due_at"),
)

kudos = sa.Table(
    "kudos",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("giver", sa.String(32), nullable=False),
    sa.Column("recipient", sa.String(32), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("posted_to", sa.String(64), nullable=False),  # the recognition channel, or the person (DM)
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_kudos_recipient", "recipient", "at"),
    sa.Index("ix_kudos_at", "at"),
)

# Each secret's classification review: counted from when Confide first loaded it, then from its last
# review. `notify_at` is when the sweep asks (or reminds) the owners next; NULL once declassified.
secret_reviews = sa.Table(
    "secret_reviews",
    metadata,
    sa.Column("secret_id", sa.String(64), primary_key=True),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("review_due_at", UTCDateTime(), nullable=False),
    sa.Column("last_reviewed_at", UTCDateTime()),
    sa.Column("last_reviewed_by", sa.String(32)),
    sa.Column("last_outcome", sa.String(24)),  # still-secret | declassified | owners-change
    sa.Column("notify_at", UTCDateTime()),
    sa.Column("notify_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_notified_at", UTCDateTime()),
    sa.Column("declassified_at", UTCDateTime()),  # new requests are refused from then on
    sa.Column("declassified_by", sa.String(32)),
    sa.Column("proposed_owners", sa.Text()),  # JSON list, recorded for the next catalog edit
    sa.Column("proposed_by", sa.String(32)),
    sa.Column("proposed_at", UTCDateTime()),
    sa.Index("ix_secret_reviews_notify", "notify_at"),
)

# Every answer to a classification review: the documented outcomes the practice calls for.
classification_outcomes = sa.Table(
    "classification_outcomes",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("secret_id", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(24), nullable=False),  # still-secret | declassified | owners-change
    sa.Column("by", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("note", sa.Text()),
    sa.Column("owners", sa.Text()),  # JSON list: the owners proposed (owners-change)
    sa.Index("ix_classification_outcomes_secret", "secret_id", "id"),
)
