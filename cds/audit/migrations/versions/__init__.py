"""Migration scripts, applied in order by cds.audit.migrate.upgrade_to_head."""
