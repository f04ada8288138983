"""Sufficient statistics in SQL: the warehouse does the per-unit work, Python sees summaries.

Per experiment x variant x metric (x analysis date, cumulative by exposure day) we keep
``n, sum_y, sum_yy, sum_x, sum_xx, sum_xy``. ``x`` is the denominator for ratio metrics
(delta method) and the pre-exposure covariate for the others (CUPED); with neither it is
null. Every statistic in :mod:`decision_engine.experiments.inference` is a function of
these sums, so analysis cost grows with experiments and days, not with recipients.

Units exposed to more than one arm (``arm_count > 1``) are excluded and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from decision_engine.experiments.metrics import DEFAULT_METRICS, MetricSpec

#: experiment_id used when the input has no experiment column (one experiment).
SINGLE_EXPERIMENT_ID = "experiment"

#: dbt's statistics of DEFAULT_METRICS over ``marts.fct_experiment_exposures`` (the same sums as
#: :func:`build_sufficient_statistics_sql`, built by the engine that built the marts) and its
#: winsorizing percentile (the ``experiment_winsorize_percentile`` dbt var).
EXPOSURES_MART = "marts.fct_experiment_exposures"
STATS_MART = "marts.fct_experiment_sufficient_stats"
CONTAMINATION_MART = "marts.fct_experiment_contamination"
MART_WINSORIZE_PERCENTILE = 0.99

STATS_COLUMNS = [
    "experiment_id",
    "variant",
    "is_control",
    "metric",
    "analysis_date",
    "n_units",
    "n",
    "sum_y",
    "sum_yy",
    "sum_x",
    "sum_xx",
    "sum_xy",
    "winsor_cap",
    "max_raw",
]


@dataclass
class SufficientStatistics:
    """Output of :func:`compute_sufficient_statistics`.

    ``stats``: one row per experiment x variant x metric x analysis_date (STATS_COLUMNS).
    ``contamination``: experiment_id, contaminated_units, excluded_rows.
    """

    stats: pd.DataFrame
    contamination: pd.DataFrame


def quote_identifier(name: str) -> str:
    """Quote a (possibly dotted) SQL identifier: ``marts.fct_x`` -> ``"marts"."fct_x"``."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def build_sufficient_statistics_sql(
    table: str,
    metrics: Sequence[MetricSpec],
    *,
    covariate_col: str | None = None,
    by_analysis_date: bool = True,
    winsorize_percentile: float | None = 0.99,
    experiment_col: str | None = "experiment_id",
    variant_col: str = "variant",
    unit_col: str | None = "unit_id",
    time_col: str | None = "exposed_at",
    arm_count_col: str | None = "arm_count",
    control_col: str | None = "is_control",
    filter_experiments: bool = False,
) -> str:
    """The DuckDB query behind :func:`compute_sufficient_statistics` (one parameter: the
    experiment id list, when ``filter_experiments``)."""
    if by_analysis_date and time_col is None:
        raise ValueError("by_analysis_date needs a time column")
    select_metrics = []
    for i, metric in enumerate(metrics):
        select_metrics.append(f"cast({_column(metric.numerator)} as double) as m{i}_y")
        if metric.kind == "ratio":
            x_expr = f"cast({_column(metric.denominator or '')} as double)"
        elif covariate_col:
            x_expr = f"cast({_column(covariate_col)} as double)"
        else:
            x_expr = "cast(null as double)"
        select_metrics.append(f"{x_expr} as m{i}_x")
    experiment_expr = (
        f"cast({_column(experiment_col)} as varchar)" if experiment_col else f"'{SINGLE_EXPERIMENT_ID}'"
    )
    control_expr = f"cast({_column(control_col)} as boolean)" if control_col else "cast(null as boolean)"
    unit_expr = _column(unit_col) if unit_col else "cast(null as varchar)"
    time_expr = f"cast({_column(time_col)} as date)" if time_col else "cast(null as date)"
    if arm_count_col:
        arm_expr = "coalesce(cast(raw_arm_count as integer), 1)"
        raw_arm = f"{_column(arm_count_col)} as raw_arm_count,"
    elif unit_col:
        arm_expr = "count(distinct variant) over (partition by experiment_id, unit_id)"
        raw_arm = ""
    else:
        arm_expr = "1"
        raw_arm = ""
    where = "where experiment_id in (select unnest($1))" if filter_experiments else ""

    caps_cols, capped_cols, daily_cols, long_selects = [], [], [], []
    for i, metric in enumerate(metrics):
        y, x = f"m{i}_y", f"m{i}_x"
        if metric.winsorize and winsorize_percentile is not None:
            caps_cols.append(
                f"quantile_cont({y}, {float(winsorize_percentile)}) filter (where {y} > 0) as {y}_cap, max({y}) as {y}_max"
            )
            capped_cols.append(
                f"case when e.{y} is null then null else least(e.{y}, c.{y}_cap) end as {y}, "
                f"c.{y}_cap as {y}_cap, c.{y}_max as {y}_max"
            )
        else:
            caps_cols.append(f"max({y}) as {y}_max")
            capped_cols.append(f"e.{y} as {y}, cast(null as double) as {y}_cap, c.{y}_max as {y}_max")
        capped_cols.append(f"e.{x} as {x}")
        valid = f"{y} is not null" + (
            f" and {x} is not null" if metric.kind == "ratio" or covariate_col else ""
        )
        daily_cols.append(
            f"count(*) filter (where {valid}) as {y}_n, "
            f"coalesce(sum({y}) filter (where {valid}), 0) as {y}_sy, "
            f"coalesce(sum({y} * {y}) filter (where {valid}), 0) as {y}_syy, "
            f"sum({x}) filter (where {valid}) as {y}_sx, "
            f"sum({x} * {x}) filter (where {valid}) as {y}_sxx, "
            f"sum({x} * {y}) filter (where {valid}) as {y}_sxy, "
            f"max({y}_cap) as {y}_cap, max({y}_max) as {y}_max"
        )
        metric_name = metric.name.replace("'", "''")
        long_selects.append(
            f"select experiment_id, variant, is_control, exposure_date, '{metric_name}' as metric, n_units, "
            f"{y}_n as n, {y}_sy as sum_y, {y}_syy as sum_yy, {y}_sx as sum_x, {y}_sxx as sum_xx, "
            f"{y}_sxy as sum_xy, {y}_cap as winsor_cap, {y}_max as max_raw from daily"
        )
    date_key = ", exposure_date" if by_analysis_date else ""
    sql = f"""
with source as (
    select
        {experiment_expr} as experiment_id,
        cast({_column(variant_col)} as varchar) as variant,
        {control_expr} as is_control_flag,
        {unit_expr} as unit_id,
        {time_expr} as exposure_date,
        {raw_arm}
        {", ".join(select_metrics)}
    from {quote_identifier(table)}
),
with_arms as (
    select *, {arm_expr} as arm_count from source {where}
),
contamination as (
    select
        experiment_id,
        count(distinct unit_id) filter (where arm_count > 1) as contaminated_units,
        count(*) filter (where arm_count > 1) as excluded_rows,
    from with_arms
    group by experiment_id
),
clean as (
    select * from with_arms where arm_count <= 1 and variant is not null
),
caps as (
    select experiment_id, {", ".join(caps_cols)} from clean group by experiment_id
),
capped as (
    select e.experiment_id, e.variant, e.is_control_flag, e.exposure_date, {", ".join(capped_cols)}
    from clean as e
    left join caps as c on e.experiment_id is not distinct from c.experiment_id
),
daily as (
    select
        experiment_id,
        variant,
        coalesce(bool_or(is_control_flag), false) as is_control,
        {"exposure_date" if by_analysis_date else "max(exposure_date) as exposure_date"},
        count(*) as n_units,
        {", ".join(daily_cols)}
    from capped
    group by experiment_id, variant{date_key}
),
long as (
    {" union all ".join(long_selects)}
)
"""
    if not by_analysis_date:
        return (
            sql
            + """
select
    l.experiment_id, l.variant,
    bool_or(l.is_control) over (partition by l.experiment_id, l.variant) as is_control,
    l.metric,
    max(l.exposure_date) over (partition by l.experiment_id) as analysis_date,
    l.n_units, l.n, l.sum_y, l.sum_yy, l.sum_x, l.sum_xx, l.sum_xy, l.winsor_cap, l.max_raw
from long as l
order by 1, 4, 2
"""
        )
    return (
        sql
        + """,
arms as (
    select experiment_id, variant, bool_or(is_control) as is_control, metric,
        max(winsor_cap) as winsor_cap, max(max_raw) as max_raw
    from long group by experiment_id, variant, metric
),
dates as (
    select experiment_id,
        cast(unnest(generate_series(min(exposure_date), max(exposure_date), interval 1 day)) as date)
            as analysis_date
    from daily
    group by experiment_id
),
grid as (
    select a.*, d.analysis_date
    from arms as a
    inner join dates as d on a.experiment_id is not distinct from d.experiment_id
),
final as (
    select
        g.experiment_id, g.variant, g.is_control, g.metric, g.analysis_date,
        sum(coalesce(l.n_units, 0)) over w as n_units,
        sum(coalesce(l.n, 0)) over w as n,
        sum(coalesce(l.sum_y, 0)) over w as sum_y,
        sum(coalesce(l.sum_yy, 0)) over w as sum_yy,
        sum(l.sum_x) over w as sum_x,
        sum(l.sum_xx) over w as sum_xx,
        sum(l.sum_xy) over w as sum_xy,
        g.winsor_cap, g.max_raw
    from grid as g
    left join long as l
        on g.experiment_id is not distinct from l.experiment_id
        and g.variant = l.variant and g.metric = l.metric and g.analysis_date = l.exposure_date
    window w as (
        partition by g.experiment_id, g.variant, g.metric order by g.analysis_date
        rows between unbounded preceding and current row
    )
)
select * from final order by experiment_id, metric, analysis_date, variant
"""
    )


def compute_sufficient_statistics(
    con: Any,
    table: str = "marts.fct_experiment_exposures",
    metrics: Sequence[MetricSpec] = DEFAULT_METRICS,
    *,
    covariate_col: str | None = None,
    by_analysis_date: bool = True,
    winsorize_percentile: float | None = 0.99,
    experiment_ids: Sequence[str] | None = None,
    experiment_col: str | None = "experiment_id",
    variant_col: str = "variant",
    unit_col: str | None = "unit_id",
    time_col: str | None = "exposed_at",
    arm_count_col: str | None = "arm_count",
    control_col: str | None = "is_control",
) -> SufficientStatistics:
    """Sufficient statistics per experiment x variant x metric (x cumulative analysis date).

    ``con`` is a DuckDB connection; ``table`` the exposures table (or a registered view).
    Revenue-like metrics (``MetricSpec.winsorize``) are capped at ``winsorize_percentile``
    of the experiment's pooled distribution (``None`` turns capping off). Rows with a null
    outcome (or null denominator / covariate) are left out of that metric's ``n``.
    """
    sql = build_sufficient_statistics_sql(
        table,
        metrics,
        covariate_col=covariate_col,
        by_analysis_date=by_analysis_date,
        winsorize_percentile=winsorize_percentile,
        experiment_col=experiment_col,
        variant_col=variant_col,
        unit_col=unit_col,
        time_col=time_col,
        arm_count_col=arm_count_col,
        control_col=control_col,
        filter_experiments=experiment_ids is not None,
    )
    params = [list(experiment_ids)] if experiment_ids is not None else None
    stats = con.execute(sql, params).df() if params else con.execute(sql).df()
    contamination_sql = sql.split("clean as (")[0].rstrip().rstrip(",") + "\nselect * from contamination"
    contamination = (
        con.execute(contamination_sql, params).df() if params else con.execute(contamination_sql).df()
    )
    return _typed(stats, contamination)


def _typed(stats: pd.DataFrame, contamination: pd.DataFrame) -> SufficientStatistics:
    stats = stats[STATS_COLUMNS].copy()
    for column in ("n_units", "n"):
        stats[column] = stats[column].astype("int64")
    stats["is_control"] = stats["is_control"].astype(bool)
    stats["analysis_date"] = pd.to_datetime(stats["analysis_date"])
    contamination = contamination[["experiment_id", "contaminated_units", "excluded_rows"]].copy()
    contamination["contaminated_units"] = contamination["contaminated_units"].astype("int64")
    contamination["excluded_rows"] = contamination["excluded_rows"].astype("int64")
    return SufficientStatistics(stats=stats, contamination=contamination)


def read_sufficient_statistics(
    con: Any, experiment_ids: Sequence[str] | None = None
) -> SufficientStatistics | None:
    """DEFAULT_METRICS' statistics as dbt built them (``STATS_MART``, ``CONTAMINATION_MART``), in
    :func:`compute_sufficient_statistics`' shape; ``None`` when the warehouse lacks those marts or
    they do not match the exposures (built before the exposures were last rebuilt)."""
    present = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' "
        "and table_name in ('fct_experiment_sufficient_stats', 'fct_experiment_contamination')"
    ).fetchone()[0]
    if present < 2:
        return None
    chosen, params = "true", []
    if experiment_ids is not None:
        chosen, params = "experiment_id in (select unnest($1))", [list(experiment_ids)]
    stats = con.execute(
        f"select {', '.join(STATS_COLUMNS)} from {STATS_MART} where {chosen} "
        "order by experiment_id, metric, analysis_date, variant",
        params,
    ).df()
    contamination = con.execute(
        f"select * from {CONTAMINATION_MART} where {chosen} order by experiment_id", params
    ).df()
    built = _typed(stats, contamination)
    return built if _matches_exposures(con, built.stats, chosen, params) else None


def _matches_exposures(con: Any, stats: pd.DataFrame, chosen: str, params: list[Any]) -> bool:
    """Whether the mart was built from the exposures as they are (not by a build that refreshed
    the exposures alone): per experiment and arm at the last analysis date, the units and each
    metric's n and total (winsorized ones: n only) against the exposures' clean rows."""
    columns = []
    for metric in DEFAULT_METRICS:
        y = f"cast({_column(metric.numerator)} as double)"
        valid = f"{y} is not null" + (
            f" and {_column(metric.denominator or '')} is not null" if metric.kind == "ratio" else ""
        )
        columns.append(f"count(*) filter (where {valid}) as {_column(metric.name + ':n')}")
        if not metric.winsorize:
            columns.append(
                f"coalesce(sum({y}) filter (where {valid}), 0) as {_column(metric.name + ':sum_y')}"
            )
    exposures = (
        con.execute(
            f"select experiment_id, variant, count(*) as n_units, {', '.join(columns)} "
            f"from {quote_identifier(EXPOSURES_MART)} where arm_count <= 1 and {chosen} "
            "group by experiment_id, variant",
            params,
        )
        .df()
        .set_index(["experiment_id", "variant"])
        .sort_index()
    )
    last = stats[stats["analysis_date"] == stats.groupby("experiment_id")["analysis_date"].transform("max")]
    built = last.pivot_table(
        index=["experiment_id", "variant"], columns="metric", values=["n", "sum_y"], aggfunc="first"
    )
    units = last.groupby(["experiment_id", "variant"])["n_units"].max()
    if list(built.index) != list(exposures.index) or list(units.loc[exposures.index]) != list(
        exposures["n_units"]
    ):
        return False
    for column in exposures.columns.drop("n_units"):
        metric, total = column.split(":")
        if not np.allclose(
            built[(total, metric)].to_numpy(float), exposures[column].to_numpy(float), rtol=1e-9
        ):
            return False
    return True
