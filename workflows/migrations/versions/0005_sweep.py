"""sweep: notify bookkeeping on grants and requests, indexes on the due columns, periodic runs

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXPIRY_WARNING = timedelta(hours=24)  # workflows.access.EXPIRY_WARNING at the time of writing


def upgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expiry_warn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expiry_warned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("review_notify_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("review_notify_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("review_escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_grants_expiry_warning", ["status", "expiry_warn_at"], unique=False)
        batch_op.create_index("ix_grants_review_notify", ["status", "review_notify_at"], unique=False)

    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remind_count", sa.Integer(), server_default="0", nullable=False))

    op.create_table(
        "periodic_runs",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "slot"),
    )

    # Grants that exist already get their first due dates, so the sweep finds them by index.
    grants = sa.table(
        "grants",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("expires_at", sa.DateTime(timezone=True)),
        sa.column("review_due_at", sa.DateTime(timezone=True)),
        sa.column("expiry_warn_at", sa.DateTime(timezone=True)),
        sa.column("review_notify_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(grants.c.id, grants.c.expires_at, grants.c.review_due_at).where(grants.c.status == "active")
    ).all()
    for row in rows:
        bind.execute(
            grants.update()
            .where(grants.c.id == row.id)
            .values(expiry_warn_at=row.expires_at - EXPIRY_WARNING, review_notify_at=row.review_due_at)
        )


def downgrade() -> None:
    op.drop_table("periodic_runs")
    with op.batch_alter_table("access_requests", schema=None) as batch_op:
        batch_op.drop_column("remind_count")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index("ix_grants_review_notify")
        batch_op.drop_index("ix_grants_expiry_warning")
        for column in (
            "reviewed_by",
            "reviewed_at",
            "review_escalated_at",
            "review_notify_count",
            "review_notify_at",
            "expiry_warned_at",
            "expiry_warn_at",
        ):
            batch_op.drop_column(column)
