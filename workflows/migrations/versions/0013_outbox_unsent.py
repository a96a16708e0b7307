"""outbox, PostgreSQL: an index of the unsent messages by id, so the deliverer finds the next due
ones without reading every unsent message (a 100,000-message campaign cost ~95 ms a look). SQLite's
deliverer keeps the query that groups them (`outbox.due_heads` says why), so it gets no index to keep.

Revision ID: 0013
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT = sa.text("sent_at IS NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_outbox_unsent", "outbox", ["id"], postgresql_where=UNSENT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_outbox_unsent", table_name="outbox")
