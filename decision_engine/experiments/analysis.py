"""From sufficient statistics to ``results.experiment_results`` rows, vectorised.

One row per experiment x variant x metric x analysis date. Nothing here raises on bad
data: an experiment with one arm, no control, no conversions or zero variance gets a row
whose ``note`` says what is wrong and whose statistics are NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.results_schema import column_names
from decision_engine.experiments import inference, sequential
from decision_engine.experiments.codes import Note, NoteCode
from decision_engine.experiments.metrics import DEFAULT_METRICS, MetricSpec
from decision_engine.experiments.plans import AnalysisConfig, ExperimentPlan
from decision_engine.experiments.sequential import SequentialDesign

__all__ = [
    "RESULT_COLUMNS",
    "AnalysisConfig",
    "ExperimentPlan",
    "analyze_experiments",
    "analyze_experiments_with_notes",
]

RESULT_COLUMNS = column_names("experiment_results")


def _plans_frame(experiment_ids: Sequence[str], plans: Mapping[str, ExperimentPlan]) -> pd.DataFrame:
    rows = []
    for experiment_id in experiment_ids:
        plan = plans.get(experiment_id) or ExperimentPlan(experiment_id=experiment_id)
        rows.append(
            {
                "experiment_id": experiment_id,
                "primary_metric": plan.primary_metric,
                "plan_control": plan.control_variant,
                "planned_units_per_arm": plan.planned_units_per_arm,
            }
        )
    return pd.DataFrame(rows)


def _mark_controls(
    stats: pd.DataFrame, plans: Mapping[str, ExperimentPlan], config: AnalysisConfig
) -> pd.Series:
    named = stats["experiment_id"].map(lambda e: plans[e].control_variant if e in plans else None)
    named = named.fillna(config.control_variant) if config.control_variant else named
    by_name = named.notna()
    return pd.Series(
        np.where(by_name, stats["variant"] == named, stats["is_control"].astype(bool)), index=stats.index
    )


def _srm(stats: pd.DataFrame, plans: Mapping[str, ExperimentPlan]) -> pd.DataFrame:
    arms = stats.drop_duplicates(["experiment_id", "analysis_date", "variant"])[
        ["experiment_id", "analysis_date", "variant", "n_units"]
    ].copy()

    planned = {
        (experiment_id, variant): float(share)
        for experiment_id, plan in plans.items()
        if plan.planned_split
        for variant, share in plan.planned_split.items()
    }
    has_split = {experiment_id for experiment_id, plan in plans.items() if plan.planned_split}
    no_check = [experiment_id for experiment_id, plan in plans.items() if not plan.check_sample_ratio]
    arms["share"] = [
        planned.get((e, v), np.nan) if e in has_split else 1.0
        for e, v in zip(arms["experiment_id"], arms["variant"], strict=True)
    ]
    arms["unplanned"] = arms["share"].isna().astype(int)
    key = ["experiment_id", "analysis_date"]
    grouped = arms.groupby(key, dropna=False)
    arms["total"] = grouped["n_units"].transform("sum")
    arms["share_total"] = grouped["share"].transform("sum")
    arms["expected"] = arms["total"] * arms["share"] / arms["share_total"]
    arms["chi"] = (arms["n_units"] - arms["expected"]) ** 2 / arms["expected"]
    out = arms.groupby(key, dropna=False).agg(
        srm_statistic=("chi", "sum"), arms=("variant", "count"), unplanned=("unplanned", "sum")
    )
    out["srm_p_value"] = np.where(
        (out["arms"] > 1) & (out["unplanned"] == 0),
        inference.stats.chi2.sf(out["srm_statistic"], np.maximum(out["arms"] - 1, 1)),
        np.nan,
    )
    out = out.reset_index()
    out.loc[out["experiment_id"].isin(no_check), "srm_p_value"] = np.nan
    return out


def analyze_experiments(
    stats: pd.DataFrame,
    metrics: Sequence[MetricSpec] = DEFAULT_METRICS,
    plans: Mapping[str, ExperimentPlan] | None = None,
    config: AnalysisConfig | None = None,
    contamination: pd.DataFrame | None = None,
    analysis_timestamp: datetime | None = None,
) -> pd.DataFrame:
    """Analyse every experiment in ``stats`` (output of ``compute_sufficient_statistics``).

    Returns ``results.experiment_results`` rows (RESULT_COLUMNS).
    """
    results, _ = analyze_experiments_with_notes(
        stats, metrics, plans, config, contamination, analysis_timestamp
    )
    return results


def analyze_experiments_with_notes(
    stats: pd.DataFrame,
    metrics: Sequence[MetricSpec] = DEFAULT_METRICS,
    plans: Mapping[str, ExperimentPlan] | None = None,
    config: AnalysisConfig | None = None,
    contamination: pd.DataFrame | None = None,
    analysis_timestamp: datetime | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """:func:`analyze_experiments`, plus each row's notes as a tuple of :class:`Note` (code and
    text, aligned with ``note_codes``), for callers that show some notes and not others."""
    config = config or AnalysisConfig()
    plans = dict(plans or {})
    timestamp = analysis_timestamp or datetime.now(UTC).replace(microsecond=0)
    spec = {m.name: m for m in metrics}
    stats = stats[stats["metric"].isin(spec)].copy()
    stats["experiment_id"] = stats["experiment_id"].astype(object)
    stats["is_control"] = _mark_controls(stats, plans, config)
    stats["kind"] = stats["metric"].map(lambda m: spec[m].kind)
    experiment_ids = list(dict.fromkeys(stats["experiment_id"]))
    plan_frame = _plans_frame(experiment_ids, plans)

    # CUPED: pooled theta per experiment x metric x date, across arms
    key = ["experiment_id", "metric", "analysis_date"]
    pooled = stats.groupby(key, dropna=False)[["n", "sum_y", "sum_x", "sum_xx", "sum_xy"]].sum(min_count=1)
    theta, x_mean = inference.cuped_theta(
        pooled["sum_x"].to_numpy(float), pooled["sum_xx"].to_numpy(float), pooled["sum_xy"].to_numpy(float),
        pooled["sum_y"].to_numpy(float), pooled["n"].to_numpy(float),
    )  # fmt: skip
    pooled = pooled.assign(cuped_theta=theta, cuped_x_mean=x_mean)[
        ["cuped_theta", "cuped_x_mean"]
    ].reset_index()
    stats = stats.merge(pooled, on=key, how="left")
    if not config.use_cuped:
        stats["cuped_theta"] = np.nan
    stats.loc[stats["kind"] == "ratio", "cuped_theta"] = np.nan

    def moments(frame: pd.DataFrame, cuped: bool) -> inference.ArmMoments:
        cols = [frame[c].to_numpy(float) for c in ("n", "sum_y", "sum_yy", "sum_x", "sum_xx", "sum_xy")]
        theta_col = frame["cuped_theta"].to_numpy(float) if cuped else None
        return inference.arm_moments(
            frame["kind"].to_numpy(), *cols, theta_col, frame["cuped_x_mean"].to_numpy(float)
        )

    controls = stats[stats["is_control"]].drop_duplicates(key)
    variants = stats[~stats["is_control"]]
    pairs = variants.merge(controls, on=key, suffixes=("", "_c"), how="inner")
    pairs = pairs.merge(plan_frame, on="experiment_id", how="left")
    vc = pairs[[c for c in pairs.columns if c.endswith("_c")]].rename(columns=lambda c: c[:-2])
    vc["kind"] = pairs["kind"].to_numpy()
    m_v, m_c = moments(pairs, True), moments(vc, True)
    raw_v, raw_c = moments(pairs, False), moments(vc, False)
    kind = pairs["kind"].to_numpy()
    null_var = inference.pooled_proportion_null_variance(
        m_c.n, vc["sum_y"].to_numpy(float), m_v.n, pairs["sum_y"].to_numpy(float)
    )
    cuped_on = np.isfinite(pairs["cuped_theta"].to_numpy(float))
    null_var = np.where(cuped_on, np.nan, null_var)
    cmp = inference.compare_arms(
        kind,
        m_c,
        m_v,
        config.alpha,
        np.where(cuped_on, (m_c.variance_of_mean + m_v.variance_of_mean), null_var),
    )
    raw_var = raw_c.variance_of_mean + raw_v.variance_of_mean
    with np.errstate(divide="ignore", invalid="ignore"):
        variance_reduction = np.where(
            cuped_on, 1 - (m_c.variance_of_mean + m_v.variance_of_mean) / raw_var, 0.0
        )

    # sequential: information fraction against the planned (or latest observed) sample
    pair_key = ["experiment_id", "metric", "variant"]
    total = m_c.n + m_v.n
    pairs["_total"] = total
    latest_total = pairs.groupby(pair_key, dropna=False)["_total"].transform("max").to_numpy(float)
    planned_total = 2.0 * pd.to_numeric(pairs["planned_units_per_arm"], errors="coerce").to_numpy(float)
    horizon = np.where(np.isfinite(planned_total) & (planned_total > 0), planned_total, latest_total)
    fraction = np.where(horizon > 0, total / horizon, np.nan)
    design = SequentialDesign(config.alpha, config.sequential.looks, config.sequential.mode)
    seq = sequential.sequential_inference(cmp.absolute_lift, cmp.standard_error, fraction, design)
    # the test statistic's SE is floored at the pooled H0 SE: an arm without events (or spread)
    # at an early look must not make a tiny lift look decisive in the running maximum
    sums = ("n", "sum_y", "sum_yy", "sum_x", "sum_xx", "sum_xy")
    null_all = inference.pooled_null_variance(
        kind, *[vc[c].to_numpy(float) for c in sums], *[pairs[c].to_numpy(float) for c in sums]
    )
    test_se = np.where(cuped_on, cmp.standard_error, np.fmax(cmp.standard_error, np.sqrt(null_all)))
    with np.errstate(divide="ignore", invalid="ignore"):
        test_z = np.where(
            test_se > 0, cmp.absolute_lift / test_se, np.where(cmp.absolute_lift == 0, 0.0, np.inf)
        )
    test_log_lr = sequential.mixture_log_likelihood_ratio(test_z, np.clip(fraction, 1e-9, None), design.alpha)
    sequential_relative_lower, sequential_relative_upper = inference.relative_interval(
        cmp.relative_lift, cmp.relative_se, cmp.log_ratio_se, seq.multiplier, m_c, m_v
    )
    # counts behind the metric: events / delivered (ratio), events / units (proportion),
    # sum / units (mean). An arm needs enough events for a lift to be estimated: the Kish
    # effective count sum(y)^2 / sum(y^2) is the number of events for 0/1 outcomes and
    # about the number of non-zero values, discounted for their spread, for revenue
    numerator_v, numerator_c = pairs["sum_y"].to_numpy(float), vc["sum_y"].to_numpy(float)
    is_ratio = kind == "ratio"
    denominator_v = np.where(is_ratio, pairs["sum_x"].to_numpy(float), m_v.n)
    denominator_c = np.where(is_ratio, vc["sum_x"].to_numpy(float), m_c.n)
    effective = np.minimum(
        inference.effective_count(numerator_v, pairs["sum_yy"].to_numpy(float)),
        inference.effective_count(numerator_c, vc["sum_yy"].to_numpy(float)),
    )
    too_few = effective < config.minimum_events_per_arm
    higher = pairs["metric"].map(lambda m: spec[m].higher_is_better).to_numpy(bool)
    prob, loss = inference.chance_to_beat_control(cmp.absolute_lift, cmp.standard_error, higher)
    out = pd.DataFrame(
        {
            "analysis_date": pairs["analysis_date"].to_numpy(),
            "experiment_id": pairs["experiment_id"].to_numpy(),
            "metric": pairs["metric"].to_numpy(),
            "metric_kind": kind,
            "is_primary": (pairs["metric"] == pairs["primary_metric"]).to_numpy(),
            "is_guardrail": _guardrail_flags(pairs, spec, plans),
            "higher_is_better": higher,
            "variant": pairs["variant"].to_numpy(),
            "control": pairs["variant_c"].to_numpy(),
            "n_control": m_c.n.astype("int64"),
            "n_variant": m_v.n.astype("int64"),
            "mean_control": m_c.mean,
            "mean_variant": m_v.mean,
            "absolute_lift": cmp.absolute_lift,
            "absolute_ci_lower": cmp.ci_lower,
            "absolute_ci_upper": cmp.ci_upper,
            "relative_lift": cmp.relative_lift,
            "relative_ci_lower": cmp.relative_ci_lower,
            "relative_ci_upper": cmp.relative_ci_upper,
            "test_statistic": cmp.statistic,
            "degrees_of_freedom": cmp.degrees_of_freedom,
            "p_value": cmp.p_value,
            "tmp_log_lr": np.where(np.isfinite(cmp.standard_error), test_log_lr, np.nan),
            "sequential_ci_lower": seq.ci_lower,
            "sequential_ci_upper": seq.ci_upper,
            "sequential_relative_ci_lower": sequential_relative_lower,
            "sequential_relative_ci_upper": sequential_relative_upper,
            "numerator_control": numerator_c,
            "numerator_variant": numerator_v,
            "denominator_control": denominator_c,
            "denominator_variant": denominator_v,
            "too_few_events": too_few,
            "information_fraction": fraction,
            "chance_to_beat_control": prob,
            "expected_loss": loss,
            "cuped_applied": cuped_on,
            "variance_reduction": variance_reduction,
            "winsor_cap": pairs["winsor_cap"].to_numpy(float),
            "tmp_max_raw": pairs["max_raw"].to_numpy(float),
            "tmp_n_units": pairs["n_units"].to_numpy(float) + pairs["n_units_c"].to_numpy(float),
        }
    )
    out = out.sort_values(["experiment_id", "metric", "variant", "analysis_date"], kind="mergesort")
    grouped = out.groupby(["experiment_id", "metric", "variant"], dropna=False, sort=False)
    # running maximum of the likelihood ratio and running intersection of the sequence
    out["tmp_log_lr"] = grouped["tmp_log_lr"].cummax()
    out["sequential_p_value"] = sequential.sequential_p_value(out["tmp_log_lr"].to_numpy(float), design)
    _intersect_confidence_sequences(out)
    out = out.reset_index(drop=True)
    family = out.groupby(["experiment_id", "analysis_date"], dropna=False, sort=False).ngroup().to_numpy()
    out["p_value_adjusted"] = inference.adjust_p_values_grouped(
        out["p_value"].to_numpy(float), family, config.multiple_testing
    )
    # families for the sequential decisions: each metric across variants; all guardrails together
    family_key = np.where(
        out["is_guardrail"].to_numpy(bool), "__guardrails__", out["metric"].to_numpy(object)
    )
    per_metric = (
        out.assign(tmp_family=family_key)
        .groupby(["experiment_id", "analysis_date", "tmp_family"], dropna=False, sort=False)
        .ngroup()
        .to_numpy()
    )
    out["sequential_p_value_adjusted"] = inference.adjust_p_values_grouped(
        out["sequential_p_value"].to_numpy(float), per_metric, "holm"
    )

    srm = _srm(stats, plans)
    out = out.merge(
        srm[["experiment_id", "analysis_date", "srm_p_value"]],
        on=["experiment_id", "analysis_date"],
        how="left",
    )
    out["srm_flag"] = out["srm_p_value"] < config.srm_threshold
    out["tmp_unknown_variant"] = False
    split_plans = {e: p.planned_split for e, p in plans.items() if p.planned_split}
    if split_plans:
        out["tmp_unknown_variant"] = [
            e in split_plans and (v not in split_plans[e] or c not in split_plans[e])
            for e, v, c in zip(out["experiment_id"], out["variant"], out["control"], strict=True)
        ]
    out = pd.concat([out, _unanalysable_rows(stats, pairs)], ignore_index=True)
    out = _attach_contamination(out, contamination)
    out["too_few_events"] = out["too_few_events"].astype("boolean").fillna(True).astype(bool)
    labels = {name: metric.display_name for name, metric in spec.items()}
    notes = _notes(out, labels, config.minimum_events_per_arm)
    out["note"] = ["; ".join(note.text for note in row) for row in notes]
    out["note_codes"] = _object_column([[note.code.value for note in row] for row in notes], out.index)
    out["tmp_notes"] = _object_column(notes, out.index)
    out["verdict"] = _verdicts(out, config)
    out["analysis_timestamp"] = pd.Timestamp(timestamp)
    for column in ("n_control", "n_variant"):
        out[column] = out[column].astype("Int64")
    out = (
        out[RESULT_COLUMNS + ["tmp_notes"]]
        .sort_values(["experiment_id", "analysis_date", "metric", "variant"])
        .reset_index(drop=True)
    )
    return out[RESULT_COLUMNS], out["tmp_notes"].rename("notes")


def _object_column(values: Sequence[object], index: pd.Index) -> pd.Series:
    """A column holding one sequence per row (pandas would read equal-length ones as 2-D)."""
    column = np.empty(len(values), dtype=object)
    for position, value in enumerate(values):
        column[position] = value
    return pd.Series(column, index=index, dtype=object)


def _intersect_confidence_sequences(out: pd.DataFrame) -> None:
    """Running intersection of the sequential CIs over looks (in place; ``out`` sorted by date).

    Looks with too few events in an arm are left out (their normal approximation is poor
    and an early, falsely narrow interval would stay in the intersection for good); if the
    intersection comes out empty (approximation error), the current look's interval stands.
    """
    usable = ~out["too_few_events"].to_numpy(bool)
    for prefix in ("sequential_ci_", "sequential_relative_ci_"):
        lower, upper = out[prefix + "lower"], out[prefix + "upper"]
        running = out.assign(tmp_lower=lower.where(usable), tmp_upper=upper.where(usable)).groupby(
            ["experiment_id", "metric", "variant"], dropna=False, sort=False
        )
        run_lower = np.fmax(running["tmp_lower"].cummax().to_numpy(float), lower.to_numpy(float))
        run_upper = np.fmin(running["tmp_upper"].cummin().to_numpy(float), upper.to_numpy(float))
        crossed = run_lower > run_upper
        out[prefix + "lower"] = np.where(crossed, lower, run_lower)
        out[prefix + "upper"] = np.where(crossed, upper, run_upper)


def _guardrail_flags(
    pairs: pd.DataFrame, spec: Mapping[str, MetricSpec], plans: Mapping[str, ExperimentPlan]
) -> np.ndarray:
    """Guardrail per row: the plan's list when it has one, else the metric's own flag."""
    flags = pairs["metric"].map(lambda m: spec[m].is_guardrail).to_numpy(bool).copy()
    guard_sets = {e: set(p.guardrail_metrics) for e, p in plans.items() if p.guardrail_metrics is not None}
    if guard_sets:
        has_list = pairs["experiment_id"].isin(list(guard_sets)).to_numpy()
        subset = pairs[has_list]
        flags[has_list] = [
            m in guard_sets[e] for e, m in zip(subset["experiment_id"], subset["metric"], strict=True)
        ]
    return flags


def _attach_contamination(out: pd.DataFrame, contamination: pd.DataFrame | None) -> pd.DataFrame:
    if contamination is None or contamination.empty:
        out["contaminated_units"] = 0
        return out
    counts = contamination[["experiment_id", "contaminated_units"]]
    out = out.merge(counts, on="experiment_id", how="left")
    out["contaminated_units"] = out["contaminated_units"].fillna(0).astype("int64")
    return out


def _unanalysable_rows(stats: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per experiment x metric x date that has no control/variant pair."""
    key = ["experiment_id", "metric", "analysis_date"]
    groups = stats.groupby(key, dropna=False).agg(arms=("variant", "nunique"), controls=("is_control", "sum"))
    analysed = pairs[key].drop_duplicates().assign(_ok=True)
    groups = groups.reset_index().merge(analysed, on=key, how="left")
    bad = groups[groups["_ok"].isna()].copy()
    if bad.empty:
        return pd.DataFrame(columns=["experiment_id"])
    names = (
        stats.merge(bad[key], on=key)
        .groupby(key, dropna=False)["variant"]
        .agg(lambda v: ", ".join(sorted(map(str, v))))
        .rename("variants")
        .reset_index()
    )
    bad = bad.merge(names, on=key, how="left")
    bad["tmp_reason"] = np.where(
        bad["arms"] < 2,
        "only one arm (" + bad["variants"] + "); nothing to compare",
        np.where(
            bad["controls"] == 0, "no control arm among " + bad["variants"], "no variant besides the control"
        ),
    )
    bad["tmp_reason_code"] = np.where(
        bad["arms"] < 2,
        NoteCode.SINGLE_ARM.value,
        np.where(bad["controls"] == 0, NoteCode.NO_CONTROL.value, NoteCode.NO_VARIANT.value),
    )
    return bad[key + ["tmp_reason", "tmp_reason_code"]].assign(srm_flag=False)


def _notes(out: pd.DataFrame, labels: Mapping[str, str], minimum_events: int) -> list[tuple[Note, ...]]:
    """Data-quality notes per row, in order: each a :class:`Note` (code and English text; the
    one place each message is written). Vectorised per message; rows are many."""
    notes: list[list[Note]] = [[] for _ in range(len(out))]

    def add(
        mask: np.ndarray | pd.Series,
        code: NoteCode | np.ndarray,
        text: pd.Series | str | Callable[[np.ndarray], pd.Series],
    ) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        if callable(text):
            addition = np.asarray(text(mask), dtype=object)
        elif isinstance(text, pd.Series):
            addition = text[mask].to_numpy(object)
        else:
            addition = np.full(int(mask.sum()), text, dtype=object)
        codes = code[mask] if isinstance(code, np.ndarray) else np.full(int(mask.sum()), code, dtype=object)
        for position, row_code, row_text in zip(np.flatnonzero(mask), codes, addition, strict=True):
            notes[position].append(Note(NoteCode(row_code), str(row_text)))

    reason = out["tmp_reason"] if "tmp_reason" in out else pd.Series(np.nan, index=out.index)
    reason_code = (
        out["tmp_reason_code"].to_numpy(object)
        if "tmp_reason_code" in out
        else np.full(len(out), None, dtype=object)
    )
    has_reason = reason.notna().to_numpy()
    add(has_reason, reason_code, reason.astype(str))
    ok = ~has_reason
    empty_arm = ok & ((out["n_control"].fillna(0) == 0) | (out["n_variant"].fillna(0) == 0)).to_numpy()
    add(empty_arm, NoteCode.EMPTY_ARM, "an arm has no units with a value")
    no_events = (
        ok & ~empty_arm & (out["metric_kind"] != "mean").to_numpy()
        & (out["mean_control"] == 0).to_numpy() & (out["mean_variant"] == 0).to_numpy()
    )  # fmt: skip
    add(no_events, NoteCode.NO_EVENTS, "no events in either arm; nothing to compare")
    add(
        ok & ~empty_arm & ~no_events & ~np.isfinite(out["p_value"].to_numpy(float)),
        NoteCode.ZERO_VARIANCE,
        "zero variance or too few units for a test",
    )
    too_few = (
        ok & ~empty_arm & ~no_events & out["is_primary"].fillna(False).astype(bool).to_numpy()
        & out["too_few_events"].fillna(False).astype(bool).to_numpy()
    )  # fmt: skip
    add(
        too_few,
        NoteCode.TOO_FEW_EVENTS,
        lambda m: [
            (
                f"too few non-zero values of {labels.get(metric, metric)} in an arm (n = {control_base:,.0f} vs "
                f"{variant_base:,.0f}): too few to estimate a lift"
                if kind == "mean"
                else f"fewer than {minimum_events} {labels.get(metric, metric)} in an arm ({control:,.0f} of "
                f"{control_base:,.0f} vs {variant:,.0f} of {variant_base:,.0f}): too few to estimate a lift"
            )
            for metric, kind, control, control_base, variant, variant_base in zip(
                out["metric"][m], out["metric_kind"][m], out["numerator_control"][m],
                out["denominator_control"][m], out["numerator_variant"][m], out["denominator_variant"][m],
                strict=True,
            )
        ],
    )  # fmt: skip
    cap, top = out["winsor_cap"].astype(float), out["tmp_max_raw"].astype(float)
    extreme = ok & (top > 10 * cap.clip(lower=1e-12)).to_numpy()
    add(
        extreme,
        NoteCode.OUTLIERS_CAPPED,
        lambda m: [
            f"extreme values winsorised (max {t:,.2f} capped at {c:,.2f})"
            for t, c in zip(top[m], cap[m], strict=True)
        ],
    )
    unknown = ok & out["tmp_unknown_variant"].fillna(False).astype(bool).to_numpy()
    add(
        unknown,
        NoteCode.UNPLANNED_VARIANT,
        "variant "
        + out["variant"].astype(str)
        + " or control "
        + out["control"].astype(str)
        + " is not in the planned split; SRM not tested",
    )
    srm = ok & out["srm_flag"].fillna(False).astype(bool).to_numpy()
    add(
        srm,
        NoteCode.SRM,
        lambda m: [
            f"sample ratio mismatch (p={p:.2g}); results not trustworthy" for p in out["srm_p_value"][m]
        ],
    )
    missing = (out["tmp_n_units"] - out["n_control"].astype(float) - out["n_variant"].astype(float)).fillna(0)
    add(
        ok & (missing > 0).to_numpy(),
        NoteCode.MISSING_VALUES,
        lambda m: [f"{int(k)} units with a missing value left out" for k in missing[m]],
    )
    contaminated = out["contaminated_units"].fillna(0).astype("int64")
    add(
        (contaminated > 0).to_numpy(),
        NoteCode.CONTAMINATED,
        contaminated.astype(str) + " units seen in more than one arm excluded",
    )
    return [tuple(row) for row in notes]


def _verdicts(out: pd.DataFrame, config: AnalysisConfig) -> pd.Series:
    basis = "sequential_p_value_adjusted" if config.decision_basis == "sequential" else "p_value_adjusted"
    significant = out[basis] <= config.alpha
    good = np.where(out["higher_is_better"].astype(bool), out["absolute_lift"] > 0, out["absolute_lift"] < 0)
    verdict = np.where(significant & good, "better", np.where(significant, "worse", "inconclusive"))
    return pd.Series(np.where(out[basis].isna(), "not_analysable", verdict), index=out.index)
