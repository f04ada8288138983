"""Does a learning hold by segment? Each concluded comparison broken down by contact segment.

Per experiment, arm, segment and metric the exposures give the sums a ratio estimate needs
(:func:`segment_statistics`; contaminated units left out; revenue not winsorised here); each arm's
``log(sum_y / sum_d)`` gets its delta-method variance, a comparison's segment effect is the
variant's minus the control's (flipped like the overall effect), and :func:`segment_summary` pools
each segment across tests (DerSimonian-Laird) and compares the segments with the overall effect.
A segment arm without events has no log ratio and is left out.

Two breakdowns (``segment_statistics(..., breakdown=...)``): the CRM lifecycle stage (the default,
what ``results.learnings`` reports) and the micro-segment of ``results.micro_segments`` as of
before each test started.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from decision_engine.experiments.meta_analysis import pool_random_effects, subgroup_difference
from decision_engine.experiments.metrics import MetricSpec

EXPOSURES_TABLE = "marts.fct_experiment_exposures"
CONTACTS_TABLE = "marts.dim_contacts"
MICRO_SEGMENTS_TABLE = "results.micro_segments"
#: What "holds by segment" breaks each test down by: ``lifecycle_stage`` (the default) or
#: ``micro_segment`` (``results.micro_segments``).
SegmentBreakdown = Literal["lifecycle_stage", "micro_segment"]
#: The contact's CRM lifecycle stage in ``marts.dim_contacts``, in three groups big enough to
#: estimate (contacts without a CRM record are a segment of their own).
SEGMENT_SQL = """case
    when c.lifecycle_stage is null then 'no_crm_stage'
    when c.lifecycle_stage in ('subscriber', 'lead') then 'subscriber_or_lead'
    else 'qualified_or_later'
end"""
#: A unit without a micro-segment from before its test started.
NOT_SEGMENTED = "not_segmented"


def _segment_join(con: Any, breakdown: SegmentBreakdown) -> tuple[str, str]:
    """The join and the segment expression of a breakdown, for exposures aliased ``e``.

    A micro-segment is the contact's segment in the latest ``results.micro_segments`` run dated
    before the test's first exposure: assigned before treatment, so the treatment cannot move a
    contact between the segments it is compared in. Units without one (a test older than the
    first segmentation, a contact not emailed before) are ``not_segmented``."""
    if breakdown == "lifecycle_stage":
        return f"left join {CONTACTS_TABLE} as c on e.unit_id = c.contact_id", SEGMENT_SQL
    if breakdown != "micro_segment":
        raise ValueError(f"unknown segment breakdown {breakdown!r}: lifecycle_stage or micro_segment")
    (exists,) = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'results' "
        "and table_name = 'micro_segments'"
    ).fetchone()
    if not exists:
        return "", f"'{NOT_SEGMENTED}'"
    join = f"""left join (
            select starts.experiment_id, max(runs.analysis_date) as analysis_date
            from (select experiment_id, min(exposed_at)::date as started_on from {EXPOSURES_TABLE} group by 1) as starts
            inner join (select distinct analysis_date from {MICRO_SEGMENTS_TABLE}) as runs
                on runs.analysis_date < starts.started_on
            group by 1
        ) as run on e.experiment_id = run.experiment_id
        left join {MICRO_SEGMENTS_TABLE} as m on m.analysis_date = run.analysis_date and m.contact_id = e.unit_id"""
    return join, f"coalesce(m.segment_id, '{NOT_SEGMENTED}')"


def _metric_sql(spec: MetricSpec) -> tuple[str, str]:
    numerator = f"cast(e.{spec.numerator} as double)"
    denominator = f"cast(e.{spec.denominator} as double)" if spec.denominator else "1.0"
    return numerator, denominator


def segment_statistics(
    con: Any,
    experiment_ids: Sequence[str],
    metrics: Sequence[MetricSpec],
    breakdown: SegmentBreakdown = "lifecycle_stage",
) -> pd.DataFrame:
    """Per experiment, arm, segment and metric: units and the sums a ratio estimate needs."""
    if not experiment_ids or not metrics:
        return pd.DataFrame()
    join, segment = _segment_join(con, breakdown)
    selects = []
    for spec in metrics:
        y, d = _metric_sql(spec)
        selects.append(
            f"""
            select e.experiment_id, e.variant, {segment} as segment, '{spec.name}' as metric, count(*) as n,
                sum({y}) as sum_y, sum({y} * {y}) as sum_yy, sum({d}) as sum_d, sum({d} * {d}) as sum_dd,
                sum({y} * {d}) as sum_yd
            from {EXPOSURES_TABLE} as e
            {join}
            where e.arm_count = 1 and e.experiment_id in (select unnest(?))
                and {y} is not null
            group by all
            """
        )
    sql = " union all ".join(selects)
    return con.execute(sql, [list(experiment_ids)] * len(selects)).df()


def _log_ratio_variance(arm: pd.Series) -> tuple[float, float] | None:
    """log of the arm's ratio estimate sum_y / sum_d and its delta-method variance."""
    n, sum_y, sum_d = float(arm["n"]), float(arm["sum_y"]), float(arm["sum_d"])
    if n < 2 or sum_y <= 0 or sum_d <= 0:
        return None
    ratio = sum_y / sum_d
    mean_y, mean_d = sum_y / n, sum_d / n
    var_y = arm["sum_yy"] / n - mean_y**2
    var_d = arm["sum_dd"] / n - mean_d**2
    cov = arm["sum_yd"] / n - mean_y * mean_d
    linear = (var_y - 2 * ratio * cov + ratio**2 * var_d) * n / (n - 1)
    variance = linear / (n * mean_d**2) / ratio**2
    return (math.log(ratio), variance) if variance > 0 else None


def segment_effects(comparisons: pd.DataFrame, statistics: pd.DataFrame) -> pd.DataFrame:
    """Per comparison and segment: the sign-adjusted log ratio and its variance."""
    if not len(comparisons) or not len(statistics):
        return pd.DataFrame(
            columns=["factor", "level", "reference_level", "metric", "segment", "effect", "variance"]
        )
    arms = statistics.set_index(["experiment_id", "variant", "segment", "metric"])
    rows = []
    for row in comparisons.itertuples(index=False):
        for segment in statistics.loc[statistics["experiment_id"] == row.experiment_id, "segment"].unique():
            try:
                control = _log_ratio_variance(arms.loc[(row.experiment_id, row.control, segment, row.metric)])
                variant = _log_ratio_variance(arms.loc[(row.experiment_id, row.variant, segment, row.metric)])
            except KeyError:
                continue
            if control is None or variant is None:
                continue
            rows.append(
                {
                    "factor": row.factor,
                    "level": row.level,
                    "reference_level": row.reference_level,
                    "metric": row.metric,
                    "segment": segment,
                    "experiment_id": row.experiment_id,
                    "effect": row.sign * (variant[0] - control[0]),
                    "variance": variant[1] + control[1],
                }
            )
    return pd.DataFrame(rows)


def segment_summary(overall: float, segments: pd.DataFrame, alpha: float) -> dict[str, Any]:
    """Pooled effect per segment, whether each has the overall's sign, and the subgroup Q test."""
    pooled = {
        str(segment): pool_random_effects(group["effect"].to_numpy(), group["variance"].to_numpy(), alpha)
        for segment, group in segments.groupby("segment")
    }
    if len(pooled) < 2:
        return {"segments": len(pooled), "segments_agreeing": None, "holds_by_segment": None,
                "segment_difference_p_value": None, "segment_effects": None}  # fmt: skip
    agreeing = sum(1 for p in pooled.values() if np.sign(p.estimate) == np.sign(overall))
    detail = {
        segment: {
            "relative_effect": round(math.expm1(p.estimate), 4),
            "ci_lower": round(math.expm1(p.ci_lower), 4),
            "ci_upper": round(math.expm1(p.ci_upper), 4),
            "tests": p.tests,
        }
        for segment, p in sorted(pooled.items())
    }
    return {
        "segments": len(pooled),
        "segments_agreeing": agreeing,
        "holds_by_segment": agreeing == len(pooled),
        "segment_difference_p_value": subgroup_difference(
            np.array([p.estimate for p in pooled.values()]),
            np.array([p.standard_error for p in pooled.values()]),
        ),
        "segment_effects": json.dumps(detail),
    }
