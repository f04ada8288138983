"""Anomaly detection judged on sandbox worlds with labelled incidents, like daily runs.

For each world the real pipeline runs once (``loopwise demo --world``) to build the marts.
Detection is then replayed online, one daily run per world day: the run at midnight after
day ``D`` sees the marts *as they were then* (sends, opens, clicks, CRM records and deal
closes stamped before the cutoff; ad conversions thinned to what the platforms had
reported by then, using the sandbox's published conversion-lag profile) and calls
``build_series -> detect -> group_incidents`` exactly as the asset does. A page is what
the pager channel would send: the first run in which an incident id is open, critical and
not a data incident (the delivery ledger's semantics).

Scoring:

- a labelled incident is *caught within a day* when a page of the matching type and
  entity goes out no later than the first daily run after the incident's first full
  24 hours (``ceil_to_midnight(start + 24 h)``); labels that start before the detector's
  warm-up (14 days of history) are reported but not scored;
- *precision* is the share of pages that match a labelled incident (type, entity and a
  window overlapping the label's +-1 day); *related* pages overlap a label on the same
  source but carry another type;
- *false pages per week* are counted on clean worlds (``clean: true``: no incidents, no
  mess).

Run: ``.venv/bin/python benchmarks/anomalies_sandbox_eval.py [--seeds 101 202 303]
[--clean-seeds 404 505] [--run-pipeline]``; writes ``benchmarks/results/anomalies_sandbox_eval.md``.
The pipeline runs leave their homes in ``/tmp/anom_eval_<seed>`` (``--home-prefix``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from decision_engine.anomalies import build_series, detect, group_incidents  # noqa: E402
from sandbox.world.ads import LAG_PROBS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "anomalies_sandbox_eval.md"
DAY = pd.Timedelta(days=1)
WARM_UP_DAYS = 14
MARTS = ("fct_email_sends", "fct_ad_performance_daily", "fct_crm_funnel", "fct_deals")
# Sandbox incident kind -> the incident types that count as catching it.
MATCHING_TYPES = {
    "tracking_outage": {"esp_tracking"},
    "deliverability_drop": {"deliverability"},
    "broken_landing_page": {"conversion_tracking"},
    "runaway_spend": {"runaway_spend"},
    "crm_sync_stall": {"crm_sync_stall"},
}
PLATFORMS = {"meta": "meta_ads", "google_ads": "google_ads"}


@dataclass
class Label:
    label_id: str
    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    source: str  # email | ads | crm
    ads: set[str] = field(default_factory=set)  # "ad:<platform>:<ad_id>" entities the label touches

    @property
    def deadline(self) -> pd.Timestamp:
        """The first daily run after a full day of the incident."""
        return (self.start + DAY).ceil("D")


@dataclass
class Page:
    incident_id: str
    incident_type: str
    scope: str
    entities: list[str]
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    run: pd.Timestamp  # cutoff of the run that paged
    matched: str | None = None  # label id (right type and entity)
    related: str | None = None  # label id (same source, overlapping window)


@dataclass
class WorldResult:
    seed: int
    clean: bool
    labels: list[Label]
    pages: list[Page]
    warnings: int  # warning-or-worse incidents first seen open (Slack / e-mail notifications)
    data_notices: int  # critical data incidents first seen open (to the data owners, never paged)
    first_run: pd.Timestamp
    last_run: pd.Timestamp
    seconds: float

    @property
    def weeks(self) -> float:
        return ((self.last_run - self.first_run) / DAY + 1) / 7

    def scorable(self) -> list[Label]:
        return [label for label in self.labels if label.start >= self.first_run - DAY]

    def caught(self, label: Label, within_day: bool) -> Page | None:
        hits = [
            p
            for p in self.pages
            if p.matched == label.label_id and (not within_day or p.run <= label.deadline)
        ]
        return min(hits, key=lambda p: p.run) if hits else None


# ---------------------------------------------------------------------------------------------
# worlds and marts


def ensure_world(seed: int, clean: bool, home: Path, run_pipeline: bool) -> None:
    if (home / "warehouse.duckdb").exists() and (home / "sandbox_truth" / "incidents.json").exists():
        return
    if not run_pipeline:
        raise SystemExit(f"{home}: no warehouse; rerun with --run-pipeline")
    spec = home.parent / f"{home.name}_world.yaml"
    spec.write_text(f"seed: {seed}\n" + ("clean: true\n" if clean else "incidents: 5\n"))
    env = {**os.environ, "LOOPWISE_HOME": str(home)}
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "loopwise"), "demo", "--world", str(spec), "--fresh"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def load_labels(home: Path) -> tuple[list[Label], pd.Timestamp, int]:
    truth = home / "sandbox_truth"
    world = json.loads((truth / "world.json").read_text())
    start = pd.Timestamp(world["start"]).tz_convert(None)
    labels = []
    for item in json.loads((truth / "incidents.json").read_text()):
        ads = set()
        for affected in item["affected"]:
            platform_name, _, rest = affected.partition(":")
            if rest.startswith("ad:"):
                ads.add(f"ad:{PLATFORMS.get(platform_name, platform_name)}:{rest[3:]}")
        source = {
            "tracking_outage": "email",
            "deliverability_drop": "email",
            "broken_landing_page": "email",
            "runaway_spend": "ads",
            "crm_sync_stall": "crm",
        }[item["kind"]]
        labels.append(
            Label(
                item["incident_id"],
                item["kind"],
                pd.Timestamp(item["start_ts"], unit="s"),
                pd.Timestamp(item["end_ts"], unit="s"),
                source,
                ads,
            )
        )
    return labels, start, int(world["clock_day"])


def load_marts(home: Path, start: pd.Timestamp, clock_day: int, seed: int) -> duckdb.DuckDBPyConnection:
    """An in-memory copy of the monitored marts (schema ``final``) plus the ad conversion lag table."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"attach '{home / 'warehouse.duckdb'}' as warehouse (read_only)")
    con.execute("create schema final")
    for table in MARTS:
        con.execute(f"create table final.{table} as select * from warehouse.marts.{table}")
    con.execute("detach warehouse")
    con.execute("create schema marts")
    ads = con.execute(
        "select platform, ad_id, date_day, conversions, conversions_value from final.fct_ad_performance_daily"
    ).df()
    con.register("ad_lag_frame", _conversion_lag(ads, start, clock_day, seed))
    con.execute("create table final.ad_lag as select * from ad_lag_frame")
    return con


def _conversion_lag(ads: pd.DataFrame, start: pd.Timestamp, clock_day: int, seed: int) -> pd.DataFrame:
    """Conversions each ad-day showed ``age`` days after its date (1..7), given what it shows at
    the world's clock: each reported conversion gets a lag drawn from the sandbox's lag profile
    (conditioned on having arrived by the clock); the value scales with the count, as in the sandbox."""
    g = np.random.default_rng(seed)
    cumulative = np.cumsum(LAG_PROBS)
    rows = []
    for row in ads.itertuples(index=False):
        final_age = clock_day - int((pd.Timestamp(row.date_day) - start) / DAY)
        total = int(round(row.conversions or 0))
        known = min(final_age, len(LAG_PROBS))
        lags = (
            g.choice(known, size=total, p=LAG_PROBS[:known] / cumulative[known - 1])
            if total
            else np.array([])
        )
        for age in range(1, known):
            seen = int(np.sum(lags < age))
            value = (row.conversions_value or 0.0) * seen / total if total else 0.0
            rows.append((row.platform, row.ad_id, row.date_day, age, float(seen), value))
    return pd.DataFrame(
        rows, columns=["platform", "ad_id", "date_day", "age", "conversions", "conversions_value"]
    )


def as_of(con: duckdb.DuckDBPyConnection, cutoff: pd.Timestamp) -> None:
    """Point ``marts.*`` at what a run at ``cutoff`` would have seen."""
    t = f"timestamp '{cutoff:%Y-%m-%d %H:%M:%S}'"
    con.execute(f"""
        create or replace view marts.fct_email_sends as
        select * replace (
            is_opened and first_opened_at < {t} as is_opened,
            is_human_opened and first_opened_at < {t} as is_human_opened,
            case when first_opened_at < {t} then first_opened_at end as first_opened_at,
            is_clicked and first_clicked_at < {t} as is_clicked,
            case when first_clicked_at < {t} then first_clicked_at end as first_clicked_at,
            is_converted and first_clicked_at < {t} as is_converted,
            case when first_clicked_at < {t} then attributed_order_count else 0 end as attributed_order_count,
            case when first_clicked_at < {t} then attributed_revenue else 0 end as attributed_revenue
        )
        from final.fct_email_sends where sent_at < {t}
    """)
    con.execute("""
        create or replace view marts.fct_email_campaign_variant_daily as
        select campaign_id, message_id, max(variant_label) as variant_label, cast(sent_at as date) as send_date,
            count(*) as recipients, count_if(is_delivered) as delivered, count_if(is_opened) as opens,
            count_if(is_human_opened) as human_opens, count_if(is_clicked) as clicks,
            count_if(is_converted) as conversions, sum(attributed_revenue) as revenue,
            count_if(is_unsubscribed) as unsubscribes, count_if(is_bounced) as bounces,
            count_if(is_spam_complaint) as spam_complaints
        from marts.fct_email_sends where send_type = 'campaign' and campaign_id is not null
        group by campaign_id, message_id, cast(sent_at as date)
    """)
    con.execute(f"""
        create or replace view marts.fct_ad_performance_daily as
        select a.* replace (
            coalesce(l.conversions, a.conversions) as conversions,
            coalesce(l.conversions_value, a.conversions_value) as conversions_value
        )
        from final.fct_ad_performance_daily as a
        left join final.ad_lag as l on l.platform = a.platform and l.ad_id = a.ad_id and l.date_day = a.date_day
            and l.age = datediff('day', a.date_day, cast({t} as date))
        where a.date_day < cast({t} as date)
    """)
    con.execute(
        f"create or replace view marts.fct_crm_funnel as select * from final.fct_crm_funnel "
        f"where transitioned_at < {t}"
    )
    con.execute(f"""
        create or replace view marts.fct_deals as
        select * replace (
            case when closed_at < {t} then closed_at end as closed_at,
            case when closed_at < {t} or closed_at is null then outcome else 'open' end as outcome
        )
        from final.fct_deals where created_at < {t}
    """)


# ---------------------------------------------------------------------------------------------
# replay and scoring


def _source(entities: list[str], scope: str) -> str:
    text = " ".join([*entities, scope])
    if "crm" in text or "hubspot" in text:
        return "crm"
    if "ad:" in text or "ads:" in text or "ad_platform:" in text:
        return "ads"
    return "email"


def _matches(page: Page, label: Label) -> bool:
    if page.incident_type not in MATCHING_TYPES[label.kind]:
        return False
    if label.kind == "runaway_spend":
        return bool(label.ads & ({page.scope} | set(page.entities)))
    if label.kind == "broken_landing_page":
        ad_sources = {"ads:" + ad.split(":")[1] for ad in label.ads}
        return page.scope in ({"email"} | ad_sources | label.ads) or bool(label.ads & set(page.entities))
    return True


def _overlaps(page: Page, label: Label) -> bool:
    return page.window_start <= label.end.floor("D") + DAY and page.window_end >= label.start.floor("D") - DAY


def replay(seed: int, clean: bool, home: Path, first_day: int) -> WorldResult:
    started = time.perf_counter()
    labels, start, clock_day = load_labels(home)
    con = load_marts(home, start, clock_day, seed)
    pages: dict[str, Page] = {}
    warned: set[str] = set()
    noticed: set[str] = set()
    seen: set[str] = set()
    runs = [start + (day + 1) * DAY for day in range(first_day, clock_day)]
    for cutoff in runs:
        as_of(con, cutoff)
        incidents = group_incidents(detect(build_series(con)))
        for incident in incidents:
            is_open = incident.status == "open"
            if incident.incident_id not in seen and not is_open:
                seen.add(incident.incident_id)  # already over when first seen: history, sends nothing
                continue
            seen.add(incident.incident_id)
            if not is_open:
                continue
            if incident.severity in ("warning", "critical"):
                warned.add(incident.incident_id)
            if incident.severity != "critical" or incident.incident_id in pages:
                continue
            if incident.is_data_incident:
                noticed.add(incident.incident_id)
                continue
            pages[incident.incident_id] = Page(
                incident.incident_id,
                incident.incident_type,
                incident.scope,
                list(incident.entities),
                pd.Timestamp(incident.window_start),
                pd.Timestamp(incident.window_end),
                cutoff,
            )
    for page in pages.values():
        for label in labels:
            if not _overlaps(page, label):
                continue
            if _matches(page, label):
                page.matched = page.matched or label.label_id
            elif _source(page.entities, page.scope) == label.source or (
                label.ads and _source(page.entities, page.scope) == "ads"
            ):
                page.related = page.related or label.label_id
    con.close()
    return WorldResult(
        seed,
        clean,
        labels,
        sorted(pages.values(), key=lambda p: p.run),
        len(warned),
        len(noticed),
        runs[0],
        runs[-1],
        time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------------------------
# report


def _pct(numerator: int, denominator: int) -> str:
    return f"{numerator}/{denominator} ({numerator / denominator:.0%})" if denominator else "n/a"


def report(results: list[WorldResult], first_day: int, total_seconds: float) -> str:
    lines = [
        "# Anomaly detection on sandbox worlds (online daily replay)",
        "",
        f"`benchmarks/anomalies_sandbox_eval.py`, run on {pd.Timestamp.now():%Y-%m-%d}; "
        f"{platform.machine()} x{os.cpu_count()}, Python {platform.python_version()}. "
        f"Replay {total_seconds:.0f} s in total (pipeline runs not included).",
        "",
        "Each world: demo preset (90 days, 5,000 contacts, 20 ads), real pipeline once "
        "(`loopwise demo --world`), then one daily run per world day from day "
        f"{first_day} on, each on the marts as they stood at that run's cutoff (see the module docstring). "
        "A page = first run in which an incident is open, critical and not a data incident. "
        "Caught within a day = a page of the right type and entity by the first daily run after "
        "the incident's first full 24 hours.",
        "",
        "## Worlds with labelled incidents",
        "",
        "| seed | scored labels | caught within a day | caught later | missed | before warm-up | pages | "
        "matched | related | false | precision | false pages / week |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    total = {"scored": 0, "day": 0, "pages": 0, "matched": 0, "related": 0, "false": 0, "weeks": 0.0}
    detail = []
    for r in [r for r in results if not r.clean]:
        scored = r.scorable()
        day = sum(r.caught(label, True) is not None for label in scored)
        later = sum(r.caught(label, True) is None and r.caught(label, False) is not None for label in scored)
        matched = sum(p.matched is not None for p in r.pages)
        related = sum(p.matched is None and p.related is not None for p in r.pages)
        false = len(r.pages) - matched - related
        lines.append(
            f"| {r.seed} | {len(scored)} | {_pct(day, len(scored))} | {later} | {len(scored) - day - later} | "
            f"{len(r.labels) - len(scored)} | {len(r.pages)} | {matched} | {related} | {false} | "
            f"{_pct(matched, len(r.pages))} | {false / r.weeks:.2f} |"
        )
        for key, value in (
            ("scored", len(scored)),
            ("day", day),
            ("pages", len(r.pages)),
            ("matched", matched),
            ("related", related),
            ("false", false),
            ("weeks", r.weeks),
        ):
            total[key] += value
        for label in r.labels:
            hit = r.caught(label, False)
            when = (
                "before warm-up"
                if label not in scored
                else (
                    "missed"
                    if hit is None
                    else f"paged by the run at {hit.run:%m-%d} "
                    f"({'within a day' if hit.run <= label.deadline else 'late'}; {hit.incident_type} {hit.scope})"
                )
            )
            detail.append(
                f"- seed {r.seed} {label.label_id} {label.kind} {label.start:%m-%d %H:%M} -> "
                f"{label.end:%m-%d %H:%M}: {when}"
            )
        for page in r.pages:
            if page.matched is None:
                tag = f"related to {page.related}" if page.related else "FALSE"
                detail.append(
                    f"- seed {r.seed} page {page.incident_type} ({page.scope}) {page.window_start:%m-%d}"
                    f"..{page.window_end:%m-%d}, run {page.run:%m-%d}: {tag}"
                )
    lines.append(
        f"| all | {total['scored']} | {_pct(total['day'], total['scored'])} | | | | {total['pages']} | "
        f"{total['matched']} | {total['related']} | {total['false']} | {_pct(total['matched'], total['pages'])} | "
        f"{total['false'] / max(total['weeks'], 1e-9):.2f} |"
    )
    lines += [
        "",
        "## Clean worlds (no incidents, no mess)",
        "",
        "| seed | weeks monitored | pages | false pages / week | warning+ notifications / week | "
        "data notices |",
        "|---|---|---|---|---|---|",
    ]
    clean_pages = clean_weeks = 0.0
    for r in [r for r in results if r.clean]:
        clean_pages += len(r.pages)
        clean_weeks += r.weeks
        lines.append(
            f"| {r.seed} | {r.weeks:.1f} | {len(r.pages)} | {len(r.pages) / r.weeks:.2f} | "
            f"{r.warnings / r.weeks:.2f} | {r.data_notices} |"
        )
        for page in r.pages:
            detail.append(
                f"- clean seed {r.seed} page {page.incident_type} ({page.scope}) "
                f"{page.window_start:%m-%d}..{page.window_end:%m-%d}, run {page.run:%m-%d}: FALSE"
            )
    if clean_weeks:
        lines.append(f"| all | {clean_weeks:.1f} | {clean_pages:.0f} | {clean_pages / clean_weeks:.2f} | | |")
    lines += ["", "## Every label and every unmatched page", "", *detail, "", *NOTES, ""]
    return "\n".join(lines)


NOTES = [
    "## Reading the numbers",
    "",
    "- Targets (issue 5): every critical incident paged within one daily run; at most one false page "
    "per week. Every sandbox incident kind is treated as critical.",
    "- Labels that start before the 14-day warm-up are listed but not scored (the sandbox places "
    "incidents from day 2 on; an online detector has no baseline then).",
    "- Known misses are low-volume windows: a one-day broken landing page when about one conversion "
    "was at stake (email orders from a 600-recipient send, one ad at ~0.5 conversions a day), and a "
    "deliverability drop that only touched a flow-only day (43 sends, 6 bounces: a warning, not a page).",
    "- Ad conversions of the newest 7 days are not judged (platforms still attribute them), so a broken "
    "landing page that only shows in ad conversions is reported a week late at best.",
    "- The replay is slightly optimistic for email: unsubscribes, spam complaints and late-arriving "
    "Klaviyo events are taken at their final state.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[101, 202, 303])
    parser.add_argument("--clean-seeds", type=int, nargs="*", default=[404, 505])
    parser.add_argument("--home-prefix", default="/tmp/anom_eval_")
    parser.add_argument("--first-day", type=int, default=WARM_UP_DAYS)
    parser.add_argument("--run-pipeline", action="store_true", help="build missing worlds with loopwise demo")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    started = time.perf_counter()
    results = []
    for seed, clean in [(s, False) for s in args.seeds] + [(s, True) for s in args.clean_seeds]:
        home = Path(f"{args.home_prefix}{seed}")
        ensure_world(seed, clean, home, args.run_pipeline)
        result = replay(seed, clean, home, args.first_day)
        print(
            f"seed {seed}{' (clean)' if clean else ''}: {len(result.pages)} pages, "
            f"{sum(p.matched is not None for p in result.pages)} matched, {result.seconds:.0f}s",
            flush=True,
        )
        results.append(result)
    text = report(results, args.first_day, time.perf_counter() - started)
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
