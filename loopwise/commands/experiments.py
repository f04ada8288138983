"""``loopwise experiments analyze``: analyse A/B(/n) tests in a CSV export (docs/architecture.md section 5).

One row per unit; every experiment in the file is analysed with the same engine the
Dagster assets use (sufficient statistics in DuckDB, statistics on the summaries).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from loopwise.checks import check_numbers, dump_json
from loopwise.errors import UsageError

RESULT_KEYS = (
    "metric", "variant", "control", "n_control", "n_variant", "mean_control", "mean_variant",
    "absolute_lift", "absolute_ci", "relative_lift", "relative_ci", "p_value", "p_value_adjusted",
    "sequential_ci", "sequential_p_value", "chance_to_beat_control", "decision", "explanation",
    "is_primary", "note_codes", "reason_code",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("experiments", help="analyse A/B(/n) experiments")
    commands = parser.add_subparsers(dest="experiments_command", metavar="COMMAND")
    analyze = commands.add_parser(
        "analyze",
        help="analyse every experiment in a CSV (one row per unit)",
        description=(
            "Fixed-horizon and sequential (safe to look at daily) analysis of each experiment in FILE. "
            "Metric and covariate values must be finite with magnitude at most 1e15 (an error names the "
            "column and line otherwise); missing values are an error."
        ),
    )
    analyze.add_argument("file", metavar="FILE.csv")
    analyze.add_argument("--variant-col", required=True, help="column naming each unit's variant")
    analyze.add_argument("--control", required=True, help="name of the control variant")
    analyze.add_argument(
        "--metric", action="append", required=True, help="outcome column (repeat; the first is primary)"
    )
    analyze.add_argument("--experiment-col", help="column with the experiment id (many experiments per file)")
    analyze.add_argument("--unit-col", help="unit id column; units in more than one arm are excluded")
    analyze.add_argument("--covariate-col", help="pre-exposure covariate for CUPED variance reduction")
    analyze.add_argument(
        "--alpha", type=float, default=0.05, help="two-sided significance level (default 0.05)"
    )
    analyze.add_argument("--format", choices=("table", "json"), default="table")
    analyze.set_defaults(func=run_analyze)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _read_csv(path: str) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except FileNotFoundError as error:
        raise UsageError(f"file not found: {path}") from error
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, IsADirectoryError) as error:
        raise UsageError(f"cannot read {path} as CSV: {error}") from error


def _validate(frame: Any, args: argparse.Namespace) -> None:
    import pandas as pd

    if not 0 < args.alpha < 0.5:
        raise UsageError(f"--alpha must be between 0 and 0.5, got {args.alpha}")
    if frame.empty:
        raise UsageError(f"{args.file} has no rows")
    columns = [args.variant_col, *args.metric] + [
        c for c in (args.experiment_col, args.unit_col, args.covariate_col) if c
    ]
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise UsageError(
            f"column(s) not in {args.file}: {', '.join(missing)} (have: {', '.join(map(str, frame.columns))})"
        )
    if len(set(args.metric)) != len(args.metric):
        raise UsageError("each --metric may be given once")
    for column in dict.fromkeys(columns):
        nulls = int(frame[column].isna().sum())
        if nulls:
            rows = ", ".join(str(i + 2) for i in frame.index[frame[column].isna()][:5])
            raise UsageError(f"column {column!r} has {nulls} missing value(s) (CSV line(s) {rows}...)")
    for column in [*args.metric] + ([args.covariate_col] if args.covariate_col else []):
        values = frame[column]
        if values.dtype == bool:
            continue
        if not pd.api.types.is_numeric_dtype(values):
            bad = values[pd.to_numeric(values, errors="coerce").isna()].astype(str).unique()[:3]
            raise UsageError(f"column {column!r} must be numeric; found {', '.join(repr(b) for b in bad)}")
        # inf, or a magnitude whose squares would overflow or lose all precision: one error naming the line
        check_numbers(values.to_numpy(dtype=float), column)
    variants = frame[args.variant_col].astype(str)
    if args.control not in set(variants):
        raise UsageError(
            f"control {args.control!r} is not a value of {args.variant_col!r} "
            f"(variants: {', '.join(sorted(set(variants))[:10])})"
        )
    experiments = (
        frame[args.experiment_col].astype(str) if args.experiment_col else pd.Series("", index=frame.index)
    )
    for experiment, arms in variants.groupby(experiments):
        label = f"experiment {experiment!r}" if args.experiment_col else args.file
        names = set(arms)
        if args.control not in names:
            raise UsageError(
                f"{label} has no control arm {args.control!r} (variants: {', '.join(sorted(names))})"
            )
        if len(names) < 2:
            raise UsageError(f"{label} has a single arm ({args.control!r}); nothing to compare")
    if args.unit_col:
        keys = [experiments, variants, frame[args.unit_col].astype(str)]
        duplicated = pd.DataFrame({"e": keys[0], "v": keys[1], "u": keys[2]}).duplicated()
        if duplicated.any():
            unit = keys[2][duplicated].iloc[0]
            raise UsageError(
                f"unit {unit!r} appears more than once in the same arm; expected one row per unit"
            )


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def analyze_frame(frame: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Validate and analyse a unit-level frame; returns the JSON contract as a dict."""
    import duckdb

    from decision_engine.experiments import (
        AnalysisConfig,
        ExperimentPlan,
        MetricSpec,
        analyze_experiments_with_notes,
        compute_sufficient_statistics,
        decide_experiments,
    )
    from decision_engine.experiments.metrics import looks_like_guardrail
    from decision_engine.experiments.sufficient_stats import SINGLE_EXPERIMENT_ID

    _validate(frame, args)
    metrics = []
    for name in args.metric:
        values = frame[name]
        binary = bool(values.isin([0, 1]).all())
        guardrail = looks_like_guardrail(name)
        metrics.append(
            MetricSpec(
                name,
                "proportion" if binary else "mean",
                name,
                higher_is_better=not guardrail,
                is_guardrail=guardrail,
            )
        )
    frame = frame.copy()
    frame[args.variant_col] = frame[args.variant_col].astype(str)
    experiment_ids = (
        sorted(frame[args.experiment_col].astype(str).unique())
        if args.experiment_col
        else [SINGLE_EXPERIMENT_ID]
    )
    guardrails = tuple(m.name for m in metrics if m.is_guardrail)
    plans = {
        e: ExperimentPlan(
            e,
            primary_metric=args.metric[0],
            guardrail_metrics=guardrails,
            control_variant=args.control,
            minimum_units_per_arm=0,
        )
        for e in experiment_ids
    }
    config = AnalysisConfig(alpha=args.alpha, control_variant=args.control)
    con = duckdb.connect()
    try:
        con.register("unit_rows", frame)
        stats = compute_sufficient_statistics(
            con, "unit_rows", metrics, covariate_col=args.covariate_col, by_analysis_date=False,
            winsorize_percentile=None, experiment_col=args.experiment_col, variant_col=args.variant_col,
            unit_col=args.unit_col, time_col=None, arm_count_col=None, control_col=None,
        )  # fmt: skip
    finally:
        con.close()
    results, notes = analyze_experiments_with_notes(stats.stats, metrics, plans, config, stats.contamination)
    results = results.assign(notes=notes)
    experiments = []
    for experiment_id in experiment_ids:
        rows = results[results["experiment_id"] == experiment_id]
        per_variant = {}
        for variant in rows["variant"].dropna().unique():
            subset = rows[rows["variant"].isna() | (rows["variant"] == variant)]
            decisions, _ = decide_experiments(subset, plans, config)
            per_variant[variant] = decisions.iloc[0] if not decisions.empty else None
        out_rows = []
        for row in (
            rows[rows["variant"].notna()]
            .sort_values(["variant", "metric"], key=lambda s: s.map(_order(args.metric)))
            .itertuples()
        ):
            decision = per_variant.get(row.variant)
            out_rows.append(_result_row(row, decision))
        experiments.append(
            {
                "experiment": experiment_id if args.experiment_col else None,
                "srm_p_value": _float(rows["srm_p_value"].iloc[0]) if not rows.empty else None,
                "srm_flag": bool(rows["srm_flag"].fillna(False).any()),
                "results": out_rows,
            }
        )
    return {"experiments": experiments}


def _count(value: Any) -> int:
    number = _float(value)
    return int(number) if number is not None else 0


def _order(metric_order: list[str]) -> Any:
    rank = {name: i for i, name in enumerate(metric_order)}
    return lambda value: rank.get(value, value)


def _result_row(row: Any, decision: Any) -> dict[str, Any]:
    from decision_engine.experiments import DecisionReason, NoteCode

    verdict_text = {
        "better": "significantly better",
        "worse": "significantly worse",
        "inconclusive": "no significant difference",
    }.get(row.verdict, "not analysable")
    lift = _float(row.relative_lift)
    own = (
        f"{row.metric}: {row.variant} vs {row.control} "
        + (f"{lift * 100:+.1f}% " if lift is not None else "")
        + f"({verdict_text})"
    )
    shown = [note for note in row.notes if note.code != NoteCode.SRM]  # SRM is reported per experiment
    note = "; ".join(note.text for note in shown)
    if note:
        own += f"; {note}"
    decision_name = decision["decision"] if decision is not None else "continue"
    reason_code = decision["reason_code"] if decision is not None else None
    explanation = decision["explanation"] if decision is not None else own
    if not row.is_primary:
        explanation = f"{own}. Decision for {row.variant}: {decision_name}."
    elif note and note not in explanation:
        if reason_code in (DecisionReason.TOO_FEW_EVENTS, DecisionReason.PROGRAM_TOO_LITTLE_DATA):
            # the decision already gives the counts
            note = "; ".join(note.text for note in shown if note.code != NoteCode.TOO_FEW_EVENTS)
        if note:
            explanation = f"{explanation} ({note})"
    return {
        "metric": row.metric,
        "variant": row.variant,
        "control": row.control,
        "n_control": _count(row.n_control),
        "n_variant": _count(row.n_variant),
        "mean_control": _float(row.mean_control),
        "mean_variant": _float(row.mean_variant),
        "absolute_lift": _float(row.absolute_lift),
        "absolute_ci": [_float(row.absolute_ci_lower), _float(row.absolute_ci_upper)],
        "relative_lift": lift,
        "relative_ci": [_float(row.relative_ci_lower), _float(row.relative_ci_upper)],
        "p_value": _float(row.p_value),
        "p_value_adjusted": _float(row.p_value_adjusted),
        "sequential_ci": [_float(row.sequential_ci_lower), _float(row.sequential_ci_upper)],
        "sequential_p_value": _float(row.sequential_p_value),
        "chance_to_beat_control": _float(row.chance_to_beat_control),
        "decision": decision_name,
        "explanation": explanation,
        "is_primary": bool(row.is_primary),
        "note_codes": [note.code.value for note in row.notes],
        "reason_code": reason_code,
    }


def _format_table(payload: dict[str, Any]) -> str:
    lines = []
    for experiment in payload["experiments"]:
        title = experiment["experiment"] or "experiment"
        srm = experiment["srm_p_value"]
        lines.append(
            f"{title}  (SRM p={srm:.3g}{', MISMATCH' if experiment['srm_flag'] else ''})"
            if srm is not None
            else title
        )
        header = f"  {'metric':<24} {'variant':<10} {'n':>9} {'mean':>10} {'lift':>8} {'95% CI':>19} {'p':>8} {'p adj':>8} {'seq p':>8}  decision"
        lines.append(header)
        for r in experiment["results"]:

            def pct(x: float | None) -> str:
                return "n/a" if x is None else f"{x * 100:+.1f}%"

            def num(x: float | None) -> str:
                return "n/a" if x is None else f"{x:.3g}"

            ci = f"[{pct(r['relative_ci'][0])}, {pct(r['relative_ci'][1])}]"
            lines.append(
                f"  {r['metric']:<24} {r['variant']:<10} {r['n_variant']:>9} {num(r['mean_variant']):>10} "
                f"{pct(r['relative_lift']):>8} {ci:>19} {num(r['p_value']):>8} {num(r['p_value_adjusted']):>8} "
                f"{num(r['sequential_p_value']):>8}  {r['decision']}"
            )
        seen = set()
        for r in experiment["results"]:
            explains_decision = r["is_primary"] and r["reason_code"] is not None
            if explains_decision and r["explanation"] not in seen:
                seen.add(r["explanation"])
                lines.append(f"  - {r['explanation']}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def run_analyze(args: argparse.Namespace) -> int:
    frame = _read_csv(args.file)
    payload = analyze_frame(frame, args)
    if args.format == "json":
        dump_json(payload, sys.stdout, default=str)
    else:
        print(_format_table(payload), end="")
    return 0
