"""Audit database: decisions, feedback, decision reports and the JWT replay cache.

from cds.audit.store import AuditStore, HookCallRecord, IssuedCard, FeedbackRecord
"""
