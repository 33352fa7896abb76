"""Audit database: decisions, feedback, decision reports and the JWT replay cache.

`cds.audit.records` holds the records (pydantic, no database import); `cds.audit.store.AuditStore`
writes and reads them (SQLAlchemy). Nothing is imported here, so `import cds.audit.records` and the
`cds audit` command's help stay free of SQLAlchemy.
"""
