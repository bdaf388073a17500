"""Alembic environment for this service; the mechanism is shared, the history is the service's own."""

from shared.migrations import run_env

run_env()
