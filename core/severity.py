"""The severity order every layer shares: anomaly verdicts, incidents and notification channels."""

from __future__ import annotations

SEVERITIES = ("info", "warning", "critical")  # least to most severe
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES, start=1)}
