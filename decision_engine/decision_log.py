"""``results.decision_log``: every action that left the queue, with what changed, who decided,
what it was predicted to do and what it did.

Rebuilt whole from the lifecycle tables on each run (they are the record; this is the
readable view BI and the weekly digest read), so it always agrees with them. The predicted
and realized impact of each executed change come from :mod:`decision_engine.impact_measurement`
(the statistics and the verdict rules are in :mod:`decision_engine.impact`); ``calibration``
is the tracked figure of how often the predictions held.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.results_schema import column_names
from decision_engine.impact import Estimate, Verdict, lands_inside
from decision_engine.impact_measurement import Assessment, Change, assess, parse_evidence, utc
from decision_engine.queue import ensure_lifecycle_tables
from decision_engine.store import RESULTS_SCHEMA, write_results

MIN_JUDGED = 10  # judged changes before the calibration share is reported
CONCLUSIVE = (
    Verdict.AS_PREDICTED.value,
    Verdict.BETTER.value,
    Verdict.WORSE.value,
)  # verdicts other than inconclusive
DECIDED = ("executed", "verified", "failed", "rejected", "expired", "superseded", "rolled_back")

_SQL = f"""
with writes as (
    select
        action_id,
        count(*) as writes,
        arg_max(value_before, "at") filter (where mode = 'execute' and status = 'executed') as value_before,
        arg_max(value_after, "at") filter (where mode = 'execute' and status in ('executed', 'noop'))
            as value_after
    from {RESULTS_SCHEMA}.action_log
    group by action_id
)
select
    a.action_id, a.analysis_date, a.status_at as decided_at, a.source, a.action_type, a.platform,
    a.target_id, a.status, a.status_by as decided_by, a.approved_by, a.reason, a.status_reason,
    w.value_before, w.value_after, coalesce(w.writes, 0) as writes, a.executed_at, a.entity_key, a.evidence,
    a.payload
from {RESULTS_SCHEMA}.actions as a
left join writes as w using (action_id)
where a.status in {DECIDED}
order by a.status_at, a.action_id
"""


def _changes(frame: pd.DataFrame) -> list[Change]:
    """Each row as a :class:`Change`, with the time the next write reached the same entity."""
    written = frame[frame["executed_at"].notna()].groupby("entity_key")["executed_at"].apply(sorted).to_dict()
    changes = []
    for row in frame.itertuples(index=False):
        executed_at = utc(row.executed_at)
        later = [utc(at) for at in written.get(row.entity_key, [])]
        later = [at for at in later if executed_at is not None and at > executed_at]
        changes.append(
            Change(
                action_type=row.action_type,
                status=row.status,
                platform=row.platform,
                target_id=row.target_id,
                analysis_date=row.analysis_date,
                executed_at=executed_at,
                next_change_at=min(later) if later else None,
                evidence=parse_evidence(row.evidence),
                payload=parse_evidence(row.payload),
            )
        )
    return changes


def _assessment_columns(assessments: list[Assessment]) -> dict[str, list[Any]]:
    def end(estimate: Estimate | None, name: str) -> float | None:
        return getattr(estimate, name) if estimate is not None else None

    return {
        "predicted_daily_revenue_change": [a.predicted_daily_revenue_change for a in assessments],
        "realized_daily_revenue_change": [a.realized_daily_revenue_change for a in assessments],
        "predicted_metric": [a.predicted_metric for a in assessments],
        "predicted_impact": [end(a.predicted, "point") for a in assessments],
        "predicted_impact_low": [end(a.predicted, "low") for a in assessments],
        "predicted_impact_high": [end(a.predicted, "high") for a in assessments],
        "evaluation_method": [a.evaluation_method for a in assessments],
        "horizon_days": [a.horizon_days for a in assessments],
        "evaluate_after": [a.evaluate_after for a in assessments],
        "realized_impact": [end(a.realized, "point") for a in assessments],
        "realized_impact_low": [end(a.realized, "low") for a in assessments],
        "realized_impact_high": [end(a.realized, "high") for a in assessments],
        "verdict": [a.verdict.value if a.verdict is not None else None for a in assessments],
        "inside_predicted_interval": [_inside(a) for a in assessments],
        "impact_summary": [a.summary for a in assessments],
    }


def _inside(assessment: Assessment) -> bool | None:
    """Whether a measured change landed inside its predictive 90% interval (the calibration's
    count): for as_predicted / better / worse the verdict's own reading, and the same test for an
    inconclusive measurement (``decision_engine.impact.lands_inside``)."""
    if assessment.verdict in (None, Verdict.PENDING) or assessment.predicted is None:
        return None
    return lands_inside(assessment.predicted, assessment.realized)


def write_decision_log(con: Any, now: datetime) -> int:
    """Rebuild ``results.decision_log``; returns its row count."""
    ensure_lifecycle_tables(con)
    frame = con.execute(_SQL).df()
    assessments = [assess(con, change, now) for change in _changes(frame)]
    frame = frame.drop(columns=["evidence", "entity_key", "payload"]).assign(
        **_assessment_columns(assessments)
    )
    frame["analysis_timestamp"] = pd.Timestamp(now)
    frame = frame.reindex(columns=column_names("decision_log"))
    write_results(con, "decision_log", frame)  # no replace_where: the whole table is rebuilt
    return len(frame)


def calibration(con: Any) -> dict[str, Any]:
    """How the decision log's predictions held up, over the changes whose window matured.

    ``matured``: changes with a realized estimate (verdict as_predicted, better, worse or
    inconclusive); ``judged``: matured changes with a predicted and a realized interval, each
    checked against its predictive 90% interval (``inside_predicted_interval``); ``conclusive``:
    judged changes precise enough for a verdict other than inconclusive; ``inside_90``: judged
    changes inside their predictive interval; ``calibration``: ``inside_90 / judged``, null with
    fewer than ``MIN_JUDGED`` judged changes (a share of a handful says little);
    ``calibration_conclusive``: the same share over the conclusive changes only (null below
    ``MIN_JUDGED`` of them): the sharper test of the intervals' width, rarely available;
    ``realized_vs_predicted``: sum of ``sign(predicted) * realized`` over sum of ``|predicted|``
    over the matured changes, every impact a relative change of its metric (1: the changes were
    as large as predicted, 0: no change; equal to sum realized / sum predicted when all
    predictions point the same way); null when nothing matured. ``by_verdict`` counts every verdict.
    """
    if not _has_decision_log(con):
        return _calibration_of(
            pd.DataFrame(columns=["verdict", "predicted_impact", "realized_impact", "inside"])
        )
    # a conclusive row without the flag (a table written before it was kept) reads it off its verdict
    frame = con.execute(
        "select verdict, predicted_impact, realized_impact, coalesce(inside_predicted_interval, case when verdict "
        f"in {CONCLUSIVE} then verdict = 'as_predicted' end) as inside from {RESULTS_SCHEMA}.decision_log"
    ).df()
    return _calibration_of(frame)


def _has_decision_log(con: Any) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.columns "
            "where table_schema = ? and table_name = 'decision_log' and column_name = 'verdict'",
            [RESULTS_SCHEMA],
        ).fetchone()[0]
    )


def _calibration_of(frame: pd.DataFrame) -> dict[str, Any]:
    verdicts = frame["verdict"].dropna()
    matured = frame[frame["verdict"].isin([*CONCLUSIVE, Verdict.INCONCLUSIVE])]
    judged = matured[matured["inside"].notna()]
    conclusive = judged[judged["verdict"].isin(CONCLUSIVE)]
    n_judged, n_conclusive = len(judged), len(conclusive)
    n_inside = int(judged["inside"].astype(bool).sum())
    n_inside_conclusive = int(conclusive["inside"].astype(bool).sum())
    predicted = matured["predicted_impact"].astype(float)
    realized = matured["realized_impact"].astype(float)
    scale = float(predicted.abs().sum())
    return {
        "matured": len(matured),
        "judged": n_judged,
        "conclusive": n_conclusive,
        "inside_90": n_inside,
        "calibration": round(n_inside / n_judged, 4) if n_judged >= MIN_JUDGED else None,
        "calibration_conclusive": round(n_inside_conclusive / n_conclusive, 4)
        if n_conclusive >= MIN_JUDGED
        else None,
        "min_judged": MIN_JUDGED,
        "realized_vs_predicted": round(float((np.sign(predicted) * realized).sum()) / scale, 4)
        if len(matured) and scale > 0
        else None,
        "by_verdict": {verdict.value: int((verdicts == verdict).sum()) for verdict in Verdict},
    }
