"""Alembic's entry point: migrate the connection bot.database hands over, inside its transaction."""

from alembic import context
from sqlalchemy import Connection

conn: Connection = context.config.attributes["connection"]
context.configure(connection=conn, render_as_batch=True)  # batch: SQLite alters tables by copying them
with context.begin_transaction():
    context.run_migrations()
