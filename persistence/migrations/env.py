"""Alembic environment: migrations run on the connection `persistence.db` hands over.

Run only through `Database.upgrade()` / `livequiz db upgrade`, which pass an open connection
(async engines run Alembic's synchronous runner through `run_sync`).
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `livequiz db upgrade` (persistence.db.Database.upgrade)")

# SQLite alters tables by copy ("batch" mode); PostgreSQL alters them in place.
context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
