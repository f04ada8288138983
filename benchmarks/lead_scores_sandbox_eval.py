"""Lead scores against the sandbox's hidden CRM funnel: AUC, calibration error and top-decile lift
of the model beside an oracle that knows each contact's true probability.

The model is validated the way it scores (``decision_engine.scores.leads``): at the latest date
whose 90-day outcome has matured, trained and calibrated only on earlier windows. The oracle
knows the funnel rules and each contact's hidden boost (``sandbox.truth.lead_propensities``)
and computes, from the stage a contact is in and how long they have been in it, the exact
probability of reaching opportunity within 90 days (the stall posterior in closed form, the
waiting times by Monte Carlo).

Run from the repository root after ``loopwise demo --home HOME``:
    python -m benchmarks.lead_scores_sandbox_eval --home HOME [--write]
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from decision_engine.scores.lead_features import features_as_of, outcomes
from decision_engine.scores.leads import (
    LeadScoreSettings,
    area_under_curve,
    expected_calibration_error,
    fit_lead_model,
    top_decile_lift,
)
from decision_engine.scores.warehouse import load_crm_history
from sandbox import open_sandbox_world
from sandbox.truth import lead_propensities

RESULTS = Path(__file__).parent / "results" / "lead_scores_sandbox_eval.md"


def _within(days: float, means: list[float], draws: int = 40000, seed: int = 0) -> float:
    g = np.random.default_rng(seed)
    total = sum(g.exponential(mean, draws) for mean in means)
    return float((total <= days).mean())


def oracle_probability(stage: int, days_in_stage: float, boost: float, truth: dict, window: int) -> float:
    """P(opportunity within ``window`` days | in ``stage`` for ``days_in_stage`` days, boost)."""
    cap = truth["max_step_probability"]
    steps = [(truth["subscriber_to_lead"]["probability"], truth["subscriber_to_lead"]["mean_days"])]
    steps += [(min(s["probability"] * boost, cap), s["mean_days"]) for s in truth["lead_steps"]]
    remaining = steps[stage - 1 :]  # subscriber (1) has all four steps ahead, SQL (4) one
    (p_now, mean_now), later = remaining[0], remaining[1:]
    stay = np.exp(-days_in_stage / mean_now)
    p_now = p_now * stay / (p_now * stay + 1 - p_now)  # not moved on yet: less likely to ever
    probability = p_now * float(np.prod([p for p, _ in later]))
    return probability * _within(window, [mean_now] + [m for _, m in later], seed=stage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    settings = LeadScoreSettings()
    con = duckdb.connect(str(args.home / "warehouse.duckdb"), read_only=True)
    history = load_crm_history(con)
    con.close()
    truth = lead_propensities(open_sandbox_world(args.home / "sandbox"))
    as_of = pd.Timestamp(history.last_event).normalize().to_pydatetime() + timedelta(days=1)
    window = timedelta(days=settings.window_days)
    validated_at = as_of - window
    started = time.perf_counter()
    model, snapshots = fit_lead_model(history, validated_at - window, settings)
    features = features_as_of(history, validated_at)
    outcome = outcomes(history, features.index, validated_at, settings.window_days)
    predicted = model.predict(features)
    seconds = time.perf_counter() - started

    hubspot = history.transitions.drop_duplicates("contact_id").set_index("contact_id")["hubspot_contact_id"]
    boosts = truth["boost_by_hubspot_contact_id"]
    boost = hubspot.reindex(features.index).map(lambda h: boosts.get(str(h))).astype(float).to_numpy()
    known = np.isfinite(boost)
    oracle = np.array(
        [
            oracle_probability(int(s), d, b, truth, settings.window_days) if ok else np.nan
            for s, d, b, ok in zip(
                features["stage_order"], features["days_in_stage"], boost, known, strict=True
            )
        ]
    )
    y, model_p, oracle_p = outcome[known], predicted[known], oracle[known]
    rows = [
        ("lead score (boosting + isotonic)", model_p),
        ("oracle (true funnel and boost)", oracle_p),
        ("stage only (share of the stage's contacts, validation data)", None),
    ]
    stage = features["stage_order"].to_numpy()[known]
    stage_rate = pd.Series(y).groupby(stage).transform("mean").to_numpy()
    lines = [
        "# Lead scores on the sandbox",
        "",
        f"Machine: 2 cores, 24 GiB, Python {platform.python_version()}; shared with other work. "
        "`python -m benchmarks.lead_scores_sandbox_eval --home HOME` on a `loopwise demo` home (preset demo).",
        "",
        f"Validated at {validated_at.date()} (the latest date whose {settings.window_days}-day outcome has "
        f"matured; data to {as_of.date()}): {int(known.sum()):,} open CRM contacts, {int(y.sum())} got a deal "
        f"within {settings.window_days} days (base rate {y.mean():.2%}). Boosting trained on {snapshots} "
        f"snapshots every {settings.snapshot_every_days} days up to {(validated_at - 2 * window).date()}, "
        f"isotonic calibration at {(validated_at - window).date()}; fit and score {seconds:.1f} s. "
        f"{int((~known).sum())} contacts without a sandbox record left out of the comparison.",
        "",
        "| scorer | AUC | calibration error (ECE, 10 bins) | top-decile lift |",
        "|---|---|---|---|",
    ]
    for name, p in rows:
        p = stage_rate if p is None else p
        lines.append(
            f"| {name} | {area_under_curve(p, y):.3f} | {expected_calibration_error(p, y):.4f} | "
            f"{top_decile_lift(p, y):.2f} |"
        )
    lines += [
        "",
        "The stage-only row is not a fair competitor (it is fitted on the validation outcomes); it shows "
        "how much of the ranking the current stage alone explains.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
