"""The send-time model's predicted lift against the sandbox's truth: in-sample and on held-out sends.

A ``schedule_send_times`` action carries a predicted lift of the personalized hours over the
account's best hour, and the decision log judges the measured lift against it (issue 12's
calibration). Read from the contact's posterior scores at the hour chosen *because* its score was
the highest of 24, that prediction is inflated: the optimizer's curse. This
benchmark compares, on a finished home whose world is known (a ``run_foundation.py`` home, a kept
``loopwise simulate`` home):

- **true**: the lift of the pipeline's chosen hours by the sandbox's planted engagement curves
  (each contact's base rate x the hour factor around its current preferred hour);
- **oracle**: the same with every contact at its true preferred hour;
- **in-sample**: what the actions stated before 2026-12-04 (all sends, the posterior scores at
  the chosen hours);
- **held-out, model**: two-fold cross-fitting: the sends split in two at random
  (``load_hourly_engagement(fold=...)``), hours chosen on one half and scored by the model fitted on
  the other, both ways;
- **held-out, sends** (what the actions state now, ``send_time.held_out_lift``): the same split,
  the other half's own engagement at the chosen and the best hour per unit of expected engagement;
- the true lift of the half-data choices, for comparison.

    python -m benchmarks.send_time_prediction /tmp/lw_large12 [HOME ...] [--write]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import duckdb
import numpy as np

from benchmarks.send_time_ceiling import write_reports
from decision_engine.personalization.data_date import end_of, newest_send_day
from decision_engine.personalization.hourly_engagement import HOURS, load_hourly_engagement
from decision_engine.personalization.send_time import SendTimeSettings, build_profiles, held_out_lift
from sandbox import World, WorldSpec
from sandbox.world.events import hour_factor

RESULTS = Path(__file__).parent / "results" / "send_time_prediction"


def _ratio_lift(numerator: float, denominator: float) -> float:
    return round(float(numerator / denominator - 1), 4)


def prediction_report(home: Path) -> dict:
    spec = WorldSpec(**json.loads((home / "sandbox" / "world_state.json").read_text())["spec"])
    contacts = World(spec).contacts
    settings = SendTimeSettings()
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        as_of = end_of(newest_send_day(con))
        full = load_hourly_engagement(con, as_of, settings)
        halves = [load_hourly_engagement(con, as_of, settings, fold=(k, 2)) for k in (0, 1)]
        profiles = build_profiles(full, settings)
        best = profiles.account_best_hour
        predicted = held_out_lift(con, as_of, settings, best)
    finally:
        con.close()
    fits = [build_profiles(half, settings) for half in halves]

    index = {hashlib.sha256(contacts.email(i).encode()).hexdigest(): i for i in range(contacts.n)}
    positions = [{c: i for i, c in enumerate(half.contact_id)} for half in halves]
    in_world = np.array([c in index for c in full.contact_id])
    in_both = in_world & np.array([all(c in p for p in positions) for c in full.contact_id])

    def true_rates(mask: np.ndarray) -> np.ndarray:
        who = np.array([index[c] for c in full.contact_id[mask]])
        hours = np.arange(HOURS, dtype=float)[None, :]
        return contacts.open_base[who][:, None] * hour_factor(hours, contacts.pref_hour_late[who][:, None])

    truth = true_rates(in_world)
    rows = np.arange(len(truth))
    chosen = profiles.chosen_local_hour[in_world]
    scores = profiles.scores[in_world]

    # cross-fitting: choose on one half, score the choice with the model of the other
    held_numerator = held_denominator = true_half = 0.0
    truth_both = true_rates(in_both)
    both_rows = np.arange(len(truth_both))
    for chooser, scorer in ((0, 1), (1, 0)):
        pick = _rows(positions[chooser], full.contact_id[in_both])
        score = _rows(positions[scorer], full.contact_id[in_both])
        picked = fits[chooser].chosen_local_hour[pick]
        held_numerator += fits[scorer].scores[score, picked].sum()
        held_denominator += fits[scorer].scores[score, best].sum()
        true_half += truth_both[both_rows, picked].sum()
    return {
        "home": str(home),
        "seed": spec.seed,
        "contacts": int(in_world.sum()),
        "contacts_in_both_halves": int(in_both.sum()),
        "by_source": {
            str(s): int((profiles.source[in_world] == s).sum()) for s in np.unique(profiles.source)
        },
        "account_best_hour": int(best),
        "true": _ratio_lift(truth[rows, chosen].sum(), truth[:, best].sum()),
        "oracle": _ratio_lift(truth.max(axis=1).sum(), truth[:, best].sum()),
        "in_sample": _ratio_lift(scores[rows, chosen].sum(), scores[:, best].sum()),
        "held_out_model": _ratio_lift(held_numerator, held_denominator),
        "held_out_sends": [round(v, 4) for v in (predicted.lift, predicted.low, predicted.high)]
        if predicted
        else None,
        "true_of_half_data_choices": _ratio_lift(true_half, 2 * truth_both[:, best].sum()),
    }


def _rows(position: dict[str, int], ids: np.ndarray) -> np.ndarray:
    return np.array([position[c] for c in ids], dtype=np.int64)


def render(reports: list[dict]) -> str:
    head = (
        "| home | seed | contacts | true | oracle | in-sample (before) | held-out, model "
        "| held-out, sends (90 % interval; now) | true, half-data choices |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )

    def sends(r: dict) -> str:
        if not r["held_out_sends"]:
            return "none"
        lift, low, high = r["held_out_sends"]
        return f"{lift:+.1%} ({low:+.1%} to {high:+.1%})"

    rows = [
        f"| `{r['home']}` | {r['seed']} | {r['contacts']:,} | {r['true']:+.1%} | {r['oracle']:+.1%} "
        f"| {r['in_sample']:+.1%} | {r['held_out_model']:+.1%} | {sends(r)} | {r['true_of_half_data_choices']:+.1%} |"
        for r in reports
    ]
    return head + "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "homes", nargs="+", type=Path, help="finished homes (warehouse + sandbox world state)"
    )
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}.json and the table in .md")
    args = parser.parse_args()
    reports = [prediction_report(home) for home in args.homes]
    table = render(reports)
    print(table)
    if args.write:
        write_reports(
            RESULTS,
            reports,
            "# Send time: the predicted lift against the truth (issue 12's calibration, issue 13)\n\n"
            "`python -m benchmarks.send_time_prediction HOMES --write` (module docstring). Relative lift in "
            "engagement of the chosen local hours over the account's best hour, over every profiled "
            "contact the world knows. In `loopwise simulate`: `send_time_prediction_simulate.md`.\n\n"
            + table,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
