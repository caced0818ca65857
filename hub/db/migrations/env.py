"""Alembic environment: the engine comes from the caller (hub.db.migrate), never from a URL here."""

from alembic import context

from hub.db.models import Base, is_managed

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True, include_name=is_managed)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
