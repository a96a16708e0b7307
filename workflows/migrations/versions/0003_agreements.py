"""agreements: the versions Confide has seen, and who owes which version since when

Revision ID: 0003
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreement_versions",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("applies_to", sa.String(length=16), nullable=False),
        sa.Column("dtsa_notice", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("agreement_id", "version"),
    )
    op.create_table(
        "agreement_obligations",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("first_owed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owed_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("user_id", "agreement_id", "version"),
    )
    op.create_index("ix_obligations_due", "agreement_obligations", ["due_at"])
    op.create_index("ix_obligations_agreement", "agreement_obligations", ["agreement_id", "version"])


def downgrade() -> None:
    op.drop_index("ix_obligations_agreement", table_name="agreement_obligations")
    op.drop_index("ix_obligations_due", table_name="agreement_obligations")
    op.drop_table("agreement_obligations")
    op.drop_table("agreement_versions")
