"""training attempts and obligations, kudos, classification reviews

Revision ID: 0010
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "training_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("training_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_training_attempts_user", "training_attempts", ["user_id", "training_id", "version"])
    op.create_index(
        "ix_training_attempts_training", "training_attempts", ["training_id", "version", "passed"]
    )
    op.create_table(
        "training_obligations",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("training_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("first_owed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owed_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("passed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("user_id", "training_id", "version"),
    )
    op.create_index("ix_training_obligations_due", "training_obligations", ["due_at"])
    op.create_table(
        "kudos",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("giver", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("posted_to", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_kudos_recipient", "kudos", ["recipient", "at"])
    op.create_index("ix_kudos_at", "kudos", ["at"])
    op.create_table(
        "secret_reviews",
        sa.Column("secret_id", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("review_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reviewed_by", sa.String(length=32), nullable=True),
        sa.Column("last_outcome", sa.String(length=24), nullable=True),
        sa.Column("notify_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declassified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declassified_by", sa.String(length=32), nullable=True),
        sa.Column("proposed_owners", sa.Text(), nullable=True),
        sa.Column("proposed_by", sa.String(length=32), nullable=True),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("secret_id"),
    )
    op.create_index("ix_secret_reviews_notify", "secret_reviews", ["notify_at"])
    op.create_table(
        "classification_outcomes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("secret_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("by", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("owners", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_classification_outcomes_secret", "classification_outcomes", ["secret_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_classification_outcomes_secret", table_name="classification_outcomes")
    op.drop_table("classification_outcomes")
    op.drop_index("ix_secret_reviews_notify", table_name="secret_reviews")
    op.drop_table("secret_reviews")
    op.drop_index("ix_kudos_at", table_name="kudos")
    op.drop_index("ix_kudos_recipient", table_name="kudos")
    op.drop_table("kudos")
    op.drop_index("ix_training_obligations_due", table_name="training_obligations")
    op.drop_table("training_obligations")
    op.drop_index("ix_training_attempts_training", table_name="training_attempts")
    op.drop_index("ix_training_attempts_user", table_name="training_attempts")
    op.drop_table("training_attempts")
