"""Impact analysis (`cds rules impact`): one population under two versions of the knowledge.

What changes per patient (indication, verdicts, findings, fired rules), per rule (patients that
newly fire or stop firing) and in alert burden (cards per 1,000 patients by indicator)."""

from cds.impact.model import ImpactReport
from cds.impact.run import analyse

__all__ = ["ImpactReport", "analyse"]
