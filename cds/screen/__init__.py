"""Population screening (`cds screen`): many patients, all cores, one row each and a summary."""

from cds.screen.rows import Row, Summary
from cds.screen.run import classify, screen
from cds.screen.worker import Settings

__all__ = ["Row", "Settings", "Summary", "classify", "screen"]
