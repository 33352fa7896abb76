"""Impact analysis (`cds rules impact`): one population under two versions of the knowledge.

What changes per patient (indication, verdicts, findings, fired rules), per rule (patients that
newly fire or stop firing) and in alert burden (cards per 1,000 patients by indicator).
`run.analyse` and `model.ImpactReport` are imported where used, so `cds --help` stays light."""
