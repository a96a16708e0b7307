"""Alembic environment: runs on the connection Confide hands over (see workflows.db.migrate)."""

from alembic import context

from workflows.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` run by hand without Confide
    raise SystemExit("Run migrations with `confide migrate`.")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
