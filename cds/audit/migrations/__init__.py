"""Alembic migrations of the audit database (a package so that wheels include it)."""
