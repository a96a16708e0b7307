"""grants: index a person's active grants by expiry

A person's grants were found through (grantee, status) while the (status, expires_at) index also
matched `/access list`'s query; without statistics SQLite chose the latter and read every active grant
in the company for each listing (14 ms per read at 100k grants, BENCHMARKS.md). With expires_at in the
person's index it matches more of the query, so every planner picks it, and its rows come in order.

Revision ID: 0007
Revises: 0001
Create Date: 2026-12-01 10:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index("ix_grants_grantee_expiry", ["grantee", "status", "expires_at"], unique=False)
        batch_op.drop_index("ix_grants_grantee")


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index("ix_grants_grantee", ["grantee", "status"], unique=False)
        batch_op.drop_index("ix_grants_grantee_expiry")
