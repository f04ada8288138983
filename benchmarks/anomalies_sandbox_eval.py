"""Anomaly detection judged on sandbox worlds with labelled incidents, like daily runs.

For each world the real pipeline runs once (``loopwise demo --world``) to build the marts.
Detection is then replayed online, one daily run per world day: the run at 06:00 UTC after
day ``D`` (the daily refresh's schedule) sees the marts *as they were then* (sends, opens,
clicks, orders, CRM records and deal closes stamped before the cutoff; ad conversions thinned
to what the platforms had reported by then, using the sandbox's published conversion-lag
profile, and the conversion snapshots of every earlier daily read) and calls ``build_series(now=cutoff) -> detect -> group_incidents`` exactly as the
asset does, so it judges the days that had ended (through ``D``). A page is what
the pager channel would send: the first run in which an incident id is open, critical and
not a data incident (the delivery ledger's semantics).

Worlds: demo preset, 5 incidents each. *Evaluation worlds* place their incidents from day
``WARM_UP_DAYS`` on (``incident_min_day``), so every label has the detector's 14 days of
history behind it; *default-placement worlds* (``--default-seeds``, the sandbox's own
placement from day 2) are scored too, their early labels listed as before warm-up; *clean
worlds* (``clean: true``: no incidents, no mess) count false pages.

Each label carries the sandbox's ``severity`` (``critical`` / ``warning``), earned from its
planted impact as a share of a normal day's volume (``sandbox/world/incidents.py``).

Scoring:

- a labelled incident is *caught within a day* when a page of the matching type and
  entity goes out no later than the first daily run after the incident's first full
  24 hours, the one that judges the day they end in (``ceil_to_midnight(start + 24 h)`` +
  6 h); labels that start before the detector's
  warm-up (14 days of history) are reported but not scored;
- *critical recall* counts critical labels only (the issue-5 target); *all-incident recall*
  counts warnings too;
- *precision* is the share of pages that match a labelled incident of any severity (type,
  entity and a window overlapping the label's +-1 day); *related* pages overlap a label on
  the same source but carry another type;
- *false pages per week* are counted on clean worlds and on incident worlds.

Run: ``.venv/bin/python benchmarks/anomalies_sandbox_eval.py [--seeds 101 202 303]
[--default-seeds 101 202 303] [--clean-seeds 404 505] [--contacts 5000] [--run-pipeline]``;
writes ``benchmarks/results/anomalies_sandbox_eval.md``. The pipeline runs (one at a time) leave
their homes in ``/tmp/anom_eval_<seed>`` (``--home-prefix``; evaluation worlds get ``_from<day>``,
other contact counts ``_c<n>``). The committed 20,000-contact results came from
``--contacts 20000 --seeds 16 30 34 36 50 --default-seeds --clean-seeds 404
--output benchmarks/results/anomalies_sandbox_eval_20k.md``.
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
from sandbox.incident_matching import label_ads, page_matches, windows_overlap  # noqa: E402
from sandbox.world.ads import LAG_PROBS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "anomalies"))
from monitoring_models import create_monitoring_views  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "anomalies_sandbox_eval.md"
DAY = pd.Timedelta(days=1)
WARM_UP_DAYS = 14
# The daily refresh runs at 06:00 UTC (``daily_refresh_schedule``, cron "0 6 * * *"): each replayed
# run sees what had arrived by then and judges the days that had ended.
RUN_HOUR = pd.Timedelta(hours=6)
DEMO_CONTACTS = 5000  # the demo preset's n_contacts
DEFAULT_MIN_DAY = 2  # WorldSpec.incident_min_day's default: the sandbox's own placement
SNAPSHOT_AGES = 9  # the replayed reads keep each ad-day's conversions up to this age (mature from 8)
MARTS = ("fct_email_sends", "fct_ad_performance_daily", "fct_crm_funnel", "fct_deals")


@dataclass
class Label:
    label_id: str
    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    source: str  # email | ads | crm
    ads: set[str] = field(default_factory=set)  # "ad:<platform>:<ad_id>" entities the label touches
    severity: str = "critical"  # the sandbox's label: critical | warning
    impact: dict = field(default_factory=dict)  # truth()["incidents"][i]["impact"]

    @property
    def deadline(self) -> pd.Timestamp:
        """The first daily run after the incident's first full 24 hours: the run that judges the
        day those 24 hours end in (runs judge the days that have ended)."""
        return (self.start + DAY).ceil("D") + RUN_HOUR


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
    min_day: int  # earliest incident day of the world spec
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

    def paged_otherwise(self, label: Label) -> Page | None:
        """An unmatched page on the label's source and window, by its deadline (another diagnosis)."""
        hits = [p for p in self.pages if p.related == label.label_id and p.run <= label.deadline]
        return min(hits, key=lambda p: p.run) if hits else None


# ---------------------------------------------------------------------------------------------
# worlds and marts


def world_spec(seed: int, clean: bool, min_day: int, contacts: int = DEMO_CONTACTS) -> dict:
    spec: dict = {"seed": seed, "clean": True} if clean else {"seed": seed, "incidents": 5}
    if not clean and min_day != DEFAULT_MIN_DAY:
        spec["incident_min_day"] = min_day
    if contacts != DEMO_CONTACTS:
        spec["n_contacts"] = contacts
    return spec


def home_of(prefix: str, seed: int, clean: bool, min_day: int, contacts: int = DEMO_CONTACTS) -> Path:
    suffix = "" if clean or min_day == DEFAULT_MIN_DAY else f"_from{min_day}"
    if contacts != DEMO_CONTACTS:
        suffix += f"_c{contacts}"
    return Path(f"{prefix}{seed}{suffix}")


def ensure_world(spec: dict, home: Path, run_pipeline: bool) -> None:
    """Build the world with the real pipeline unless ``home`` already holds this spec's warehouse."""
    from sandbox import WorldSpec

    wanted = WorldSpec.from_dict(spec).to_dict()
    state = home / "sandbox" / "world_state.json"
    built = WorldSpec.from_dict(json.loads(state.read_text())["spec"]).to_dict() if state.exists() else None
    if (home / "warehouse.duckdb").exists() and built == wanted and _has_current_marts(home):
        return
    if not run_pipeline:
        raise SystemExit(f"{home}: no warehouse for {spec}; rerun with --run-pipeline")
    path = home.parent / f"{home.name}_world.yaml"
    path.write_text(
        "".join(
            f"{key}: {str(value).lower() if isinstance(value, bool) else value}\n"
            for key, value in spec.items()
        )
    )
    env = {**os.environ, "LOOPWISE_HOME": str(home)}
    print(f"building {home} ({spec}) with loopwise demo ...", flush=True)
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "loopwise"), "demo", "--world", str(path), "--fresh"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _has_current_marts(home: Path) -> bool:
    """Whether the warehouse was built by a pipeline that writes ``fct_email_sends.first_ordered_at``."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        columns = con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'fct_email_sends'"
        ).fetchall()
    return ("first_ordered_at",) in columns


def _incident_labels(home: Path) -> list[dict]:
    """``build_truth(world)["incidents"]``; recomputed from the saved world when the truth predates severity labels."""
    items = json.loads((home / "sandbox_truth" / "incidents.json").read_text())
    if items and "severity" not in items[0]:
        from sandbox import World
        from sandbox.truth import build_truth

        world = World.load_state(home / "sandbox" / "world_state.json")
        items = build_truth(world, include_records=False)["incidents"]
    return items


def load_labels(home: Path) -> tuple[list[Label], pd.Timestamp, int]:
    truth = home / "sandbox_truth"
    world = json.loads((truth / "world.json").read_text())
    start = pd.Timestamp(world["start"]).tz_convert(None)
    labels = []
    for item in _incident_labels(home):
        ads = label_ads(item["affected"])
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
                item["severity"],
                item["impact"],
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
        "select platform, ad_id, date_day, conversions, conversions_value from final.fct_ad_performance_daily "
        "where conversions is not null"  # a quarantined ad-day has unknown metrics
    ).df()
    con.register("ad_lag_frame", _conversion_lag(ads, start, clock_day, seed))
    con.execute("create table final.ad_lag as select * from ad_lag_frame")
    return con


def _conversion_lag(ads: pd.DataFrame, start: pd.Timestamp, clock_day: int, seed: int) -> pd.DataFrame:
    """Conversions each ad-day showed ``age`` days after its date (1..``SNAPSHOT_AGES``), given what
    it shows at the world's clock: each reported conversion gets a lag drawn from the sandbox's lag
    profile (conditioned on having arrived by the clock); the value scales with the count, as in
    the sandbox. These are also the daily reads' conversion snapshots (:func:`as_of`)."""
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
        for age in range(1, SNAPSHOT_AGES + 1):
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
            is_machine_open_only and first_opened_at < {t} as is_machine_open_only,
            case when first_opened_at < {t} then first_opened_at end as first_opened_at,
            is_clicked and first_clicked_at < {t} as is_clicked,
            case when first_clicked_at < {t} then first_clicked_at end as first_clicked_at,
            is_converted and first_ordered_at < {t} as is_converted,
            case when first_ordered_at < {t} then attributed_order_count else 0 end as attributed_order_count,
            case when first_ordered_at < {t} then attributed_revenue else 0 end as attributed_revenue,
            case when first_ordered_at < {t} then first_ordered_at end as first_ordered_at
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
    # The conversion snapshots of every daily read up to the cutoff (ingestion writes one per read).
    con.execute(f"""
        create or replace view marts.fct_ad_conversion_snapshots as
        select platform, ad_id, cast(date_day as date) as date_day,
            cast(date_day as date) + cast(age as integer) as observed_on, age as age_days,
            conversions, conversions_value
        from final.ad_lag
        where cast(date_day as date) + cast(age as integer) <= cast({t} as date)
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
    # The anomaly scan reads the dbt monitoring models: the same model files, as views over these.
    create_monitoring_views(con)


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
    return page_matches(label.kind, label.ads, page.incident_type, page.scope, page.entities)


def _overlaps(page: Page, label: Label) -> bool:
    return windows_overlap(page.window_start, page.window_end, label.start, label.end)


def replay(seed: int, clean: bool, min_day: int, home: Path, first_day: int) -> WorldResult:
    started = time.perf_counter()
    labels, start, clock_day = load_labels(home)
    con = load_marts(home, start, clock_day, seed)
    pages: dict[str, Page] = {}
    warned: set[str] = set()
    noticed: set[str] = set()
    seen: set[str] = set()
    runs = [start + (day + 1) * DAY + RUN_HOUR for day in range(first_day, clock_day)]
    for cutoff in runs:
        as_of(con, cutoff)
        incidents = group_incidents(detect(build_series(con, now=cutoff)))
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
        min_day,
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


UNITS = {
    "sends": "sends",
    "tracking_events": "opens+clicks",
    "conversions": "conversions",
    "ad_spend": "spend",
    "crm_changes": "CRM changes",
}


def _impact(label: Label) -> str:
    i = label.impact
    if not i:
        return label.severity
    amount = f"{i['amount']:,.0f}" if i["measure"] != "ad_spend" else f"${i['amount']:,.0f}"
    return f"{label.severity}: {amount} {UNITS.get(i['measure'], i['measure'])} = {i['share_of_day']:.2f} of a day"


def _missed(r: WorldResult, label: Label) -> str:
    other = r.paged_otherwise(label)
    if other is None:
        return "**missed**"
    return f"**missed** (paged by the run at {other.run:%m-%d} as {other.incident_type} {other.scope})"


def _placement(r: WorldResult) -> str:
    return "clean" if r.clean else f"from day {r.min_day}"


@dataclass
class Tally:
    critical: int = 0
    critical_day: int = 0
    critical_other: int = 0  # critical labels missed by type but paged under another type within a day
    scored: int = 0
    day: int = 0
    later: int = 0
    pages: int = 0
    matched: int = 0
    related: int = 0
    false: int = 0
    weeks: float = 0.0

    def add(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def tally(r: WorldResult) -> Tally:
    scored = r.scorable()
    critical = [label for label in scored if label.severity == "critical"]
    matched = sum(p.matched is not None for p in r.pages)
    related = sum(p.matched is None and p.related is not None for p in r.pages)
    return Tally(
        critical=len(critical),
        critical_day=sum(r.caught(label, True) is not None for label in critical),
        critical_other=sum(
            r.caught(label, True) is None and r.paged_otherwise(label) is not None for label in critical
        ),
        scored=len(scored),
        day=sum(r.caught(label, True) is not None for label in scored),
        later=sum(r.caught(label, True) is None and r.caught(label, False) is not None for label in scored),
        pages=len(r.pages),
        matched=matched,
        related=related,
        false=len(r.pages) - matched - related,
        weeks=r.weeks,
    )


def report(
    results: list[WorldResult], first_day: int, total_seconds: float, contacts: int = DEMO_CONTACTS
) -> str:
    incident_worlds = [r for r in results if not r.clean]
    clean_worlds = [r for r in results if r.clean]
    groups: dict[str, Tally] = {}
    for r in incident_worlds:
        groups.setdefault(_placement(r), Tally()).add(tally(r))
    clean = Tally()
    for r in clean_worlds:
        clean.add(tally(r))
    lines = [
        "# Anomaly detection on sandbox worlds (online daily replay)",
        "",
        f"`benchmarks/anomalies_sandbox_eval.py`, run on {pd.Timestamp.now():%Y-%m-%d}; "
        f"{platform.machine()} x{os.cpu_count()}, Python {platform.python_version()}. "
        f"Replay {total_seconds:.0f} s in total (pipeline runs not included).",
        "",
        f"Each world: demo preset (90 days, {contacts:,} contacts, 20 ads), real pipeline once "
        "(`loopwise demo --world`), then one daily run per world day from day "
        f"{first_day} on, at 06:00 UTC (the daily refresh's schedule), each on the marts as they stood "
        "then and judging the days that had ended (see the module docstring). "
        "A page = first run in which an incident is open, critical and not a data incident. "
        "Caught within a day = a page of the right type and entity by the first daily run after "
        "the incident's first full 24 hours. Evaluation worlds place their 5 incidents from day "
        f"{WARM_UP_DAYS} on (`incident_min_day: {WARM_UP_DAYS}`, after the detector's warm-up); "
        "default-placement worlds use the sandbox's own placement (from day 2). Labels carry the "
        "sandbox's impact-based severity (rule below).",
        "",
        "## Against the issue-5 targets",
        "",
        "| worlds | critical incidents caught within a day | + paged under another type | "
        "all incidents caught within a day | precision | false pages / week |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in groups.items():
        lines.append(
            f"| {name} ({sum(_placement(r) == name for r in incident_worlds)} seeds) | "
            f"{_pct(t.critical_day, t.critical)} | {t.critical_other} | {_pct(t.day, t.scored)} | "
            f"{_pct(t.matched, t.pages)} | {t.false / max(t.weeks, 1e-9):.2f} |"
        )
    if clean_worlds:
        lines.append(
            f"| clean ({len(clean_worlds)} seeds, {clean.weeks:.1f} weeks) | | | | | "
            f"**{clean.pages / max(clean.weeks, 1e-9):.2f}** ({clean.pages:.0f} pages) |"
        )
    lines += [
        "",
        "Targets: every critical incident paged within one daily run; at most one false page per week "
        "on a clean world. Caught = a page of the matching type and entity; *paged under another type* = "
        "a critical label without one, but with a page on the same source overlapping it by the same "
        "deadline (someone was woken, with another diagnosis). Precision counts pages matching a label "
        "of either severity.",
        "",
        "## Worlds with labelled incidents",
        "",
        "| seed | placement | labels (critical / warning) | scored | critical caught within a day | "
        "all caught within a day | caught later | missed | before warm-up | pages | matched | related | "
        "false | precision | false pages / week |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    detail = []
    for r in incident_worlds:
        t = tally(r)
        n_critical = sum(label.severity == "critical" for label in r.labels)
        lines.append(
            f"| {r.seed} | {_placement(r)} | {len(r.labels)} ({n_critical} / {len(r.labels) - n_critical}) | "
            f"{t.scored} | {_pct(t.critical_day, t.critical)} | {_pct(t.day, t.scored)} | {t.later} | "
            f"{t.scored - t.day - t.later} | {len(r.labels) - t.scored} | {t.pages} | {t.matched} | "
            f"{t.related} | {t.false} | {_pct(t.matched, t.pages)} | {t.false / r.weeks:.2f} |"
        )
        scored = r.scorable()
        for label in r.labels:
            hit = r.caught(label, False)
            when = (
                "before warm-up"
                if label not in scored
                else (
                    _missed(r, label)
                    if hit is None
                    else f"paged by the run at {hit.run:%m-%d} "
                    f"({'within a day' if hit.run <= label.deadline else 'late'}; {hit.incident_type} {hit.scope})"
                )
            )
            detail.append(
                f"- seed {r.seed} ({_placement(r)}) {label.label_id} {label.kind} [{_impact(label)}] "
                f"{label.start:%m-%d %H:%M} -> {label.end:%m-%d %H:%M}: {when}"
            )
        for page in r.pages:
            if page.matched is None:
                tag = f"related to {page.related}" if page.related else "FALSE"
                detail.append(
                    f"- seed {r.seed} ({_placement(r)}) page {page.incident_type} ({page.scope}) "
                    f"{page.window_start:%m-%d}..{page.window_end:%m-%d}, run {page.run:%m-%d}: {tag}"
                )
    for name, t in groups.items():
        lines.append(
            f"| all | {name} | | {t.scored} | {_pct(t.critical_day, t.critical)} | {_pct(t.day, t.scored)} | "
            f"{t.later} | {t.scored - t.day - t.later} | | {t.pages} | {t.matched} | {t.related} | {t.false} | "
            f"{_pct(t.matched, t.pages)} | {t.false / max(t.weeks, 1e-9):.2f} |"
        )
    lines += [
        "",
        "## Clean worlds (no incidents, no mess)",
        "",
        "| seed | weeks monitored | pages | false pages / week | warning+ notifications / week | "
        "data notices |",
        "|---|---|---|---|---|---|",
    ]
    for r in clean_worlds:
        lines.append(
            f"| {r.seed} | {r.weeks:.1f} | {len(r.pages)} | {len(r.pages) / r.weeks:.2f} | "
            f"{r.warnings / r.weeks:.2f} | {r.data_notices} |"
        )
        for page in r.pages:
            detail.append(
                f"- clean seed {r.seed} page {page.incident_type} ({page.scope}) "
                f"{page.window_start:%m-%d}..{page.window_end:%m-%d}, run {page.run:%m-%d}: FALSE"
            )
    if clean_worlds:
        lines.append(
            f"| all | {clean.weeks:.1f} | {clean.pages:.0f} | {clean.pages / max(clean.weeks, 1e-9):.2f} | | |"
        )
    lines += [
        "",
        "## Every label and every unmatched page",
        "",
        "Severity and planted impact in brackets: the damage as a share of a normal day's volume.",
        "",
        *detail,
        "",
        *NOTES,
        "",
    ]
    return "\n".join(lines)


NOTES = [
    "## Severity labels (sandbox ground truth)",
    "",
    '`truth()["incidents"]` (`incidents.json`) gives each incident an `impact` and a `severity`. The impact '
    "is measured against the same world without the incident (same random streams) in the unit the "
    "incident damages, divided by the clean world's mean daily volume of that unit over the 28 days "
    "around it: tracking outage - opens and clicks lost / daily opens+clicks; deliverability drop - "
    "sends inside the window (each bounces ~15x as often) / daily sends; broken landing page - "
    "conversions lost (email-caused orders plus the broken ad's) / daily email orders + ad conversions; "
    "runaway spend - spend above the ad's budgeted delivery / daily spend of every ad; CRM sync stall - "
    "HubSpot changes held back / daily HubSpot changes. **Critical when that share is at least 0.25** "
    "(the incident destroys or wastes at least a quarter of a normal day's volume), else warning. "
    "On 30 demo seeds with `incident_min_day: 14` the email kinds split cleanly (a window with a "
    "campaign send is 0.4-4.5 days of volume, a flow-only window 0.02-0.07): deliverability drops are "
    "critical in 24/30, tracking outages in 18/30; CRM stalls always (1.9-4.3 days of changes); runaway "
    "spend in 14/30 (a 5x runaway on a $40 ad is ~5% of the day's spend); broken landing pages in 6/30 "
    "(email orders are ~2 a day against ~30 ad conversions). Seed 16 was added to the evaluation seeds "
    "because all five of its labels are critical (chosen from the labels, before any replay).",
    "",
    "## Seeds",
    "",
    "101, 202, 303 and the clean 404, 505 are the original set; 16 was added because all five of its "
    "labels are critical (chosen from the labels, before any replay). After the detector changes below, "
    "21, 22, 23 were added as held-out worlds, and 30, 34, 36, 50 as a landing-page stress set: every seed "
    "in 30-59 whose broken landing page is labelled critical (chosen from the labels, before replay). "
    "`--contacts 20000` builds the same seeds with four times the contacts "
    "(`anomalies_sandbox_eval_20k.md`): same incident windows, four times the email volume.",
    "",
    "## What changed after the first evaluation (three critical misses on seed 16)",
    "",
    "The first evaluation (4 seeds, runs at midnight) caught 18/21 critical labels within a day; all three "
    "misses were on seed 16. Each was fixed in the detector, not in the scoring.",
    "",
    "- **Sparse series warm up by age** (INC-001 deliverability drop: bounce rate 16.4% against 1.1%, "
    "z = 24.6, on a campaign stream with 13 points). A series is judged once it has 14 points, or once "
    "it is 14 days old with at least 8: a stream that sends three days a week is judged from its third "
    "week, not its fifth. Now paged within the day.",
    "- **Machine (privacy-proxy) opens mean tracking** (INC-004: open rate -70% but clicks only -32%, "
    "paged as an engagement drop). Proxy opens fire on delivery whatever the content says, so an "
    "engagement drop on a source whose machine-open rate also fell is `esp_tracking`. The campaign "
    "stream's machine-open rate read 0.0% against 16.5%. On 1,883 clean stream-days its lowest z was "
    "-3.7 (critical is 6.5).",
    "- **Orders per email click, by click day** (INC-002 broken landing page). A pooled series over all "
    "streams (orders from each day's clicks / clicks, the newest clicks counted as the share of a click "
    "that had ordered by the same age in the past), judged by its exact binomial tail with a pooled "
    "baseline and page threshold `pooled_alpha = 0.02` (0.005 until 2026-12-01; one test a day: about "
    "0.14 false pages a week under the model). A/A simulation at 0.005: 0.23% of days critical at 6% "
    "conversion; power against a checkout that converts a tenth as well: 69% at 7 expected orders a day, "
    "94% at 10.5.",
    "- **Runs at 06:00, judging the days that have ended** (the daily refresh's schedule). `build_series"
    "(now=...)` leaves out today's partial day, and the replay now sees what had arrived by 06:00 "
    "(orders included, by `fct_email_sends.first_ordered_at`).",
    "",
    "## Broken landing pages at demo volume",
    "",
    "Every critical label not paged within a day is a broken landing page at 5,000 contacts, where email "
    "brings 40-170 clicks and 2-12 orders a day: the lost orders are too few to tell from noise in one day.",
    "",
    "- Seed 16 INC-002 (12 conversions lost, 8 of them email orders): at the first run the day's clicks "
    "(127, worth 99 click-equivalents by then) had one order against 5.9 expected, tail probability about "
    "0.01, z = -2.34: paged within the day since `pooled_alpha` is 0.02 (page threshold z about -2.05; at "
    "0.005 it was -2.58 and the page came a run later).",
    "- Seed 50: z -2.2 on its second day: paged late (it was missed at 0.005). Seeds 30 and 36: z between "
    "-1.7 and -2.0 on the first day, still missed (seed 36's orders-per-click series was still warming up: "
    "it has a point only on days with 30 or more clicks).",
    "- Seed 34: 9 of its 11 lost conversions were on one ad, whose conversions are not judged for 7 days "
    "(the platforms are still attributing them).",
    "- False pages of this test: seeds 22, 30, 34 and 36 (one each, days with few orders from their clicks "
    "and no incident) and the clean seed 505 (one): 0.03 a week on the incident worlds and 0.05 on the "
    "clean ones, inside the budget of 0.2 a week (0.01 and 0.00 at 0.005).",
    "",
    "With four times the contacts (`anomalies_sandbox_eval_20k.md`, run at 0.005: seeds 16, 30, 34, 36, 50 "
    "and a clean 404) every critical label was paged within a day, the four critical landing pages "
    "included, with no false page.",
    "",
    "## Reading the numbers",
    "",
    "- Labels that start before the 14-day warm-up are listed but not scored (default placement "
    "starts incidents from day 2; an online detector has no baseline then).",
    "- Ad conversions of the newest 7 days are still being attributed: each is judged against the share "
    "of its final count that the replayed daily reads (the conversion snapshots) say a day of its age has "
    "(below 30% it is not judged), so a broken landing page can show in an ad's conversions within days.",
    "- The replay is slightly optimistic for email: unsubscribes, spam complaints and late-arriving "
    "Klaviyo events are taken at their final state (opens, clicks and orders are cut at the run's time).",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        default=[101, 202, 303, 16, 21, 22, 23, 30, 34, 36, 50],
        help="evaluation worlds (incidents after warm-up; see the report's Seeds section)",
    )
    parser.add_argument(
        "--default-seeds", type=int, nargs="*", default=[101, 202, 303], help="worlds with default placement"
    )
    parser.add_argument("--clean-seeds", type=int, nargs="*", default=[404, 505])
    parser.add_argument("--incident-min-day", type=int, default=WARM_UP_DAYS)
    parser.add_argument("--home-prefix", default="/tmp/anom_eval_")
    parser.add_argument("--first-day", type=int, default=WARM_UP_DAYS)
    parser.add_argument("--run-pipeline", action="store_true", help="build missing worlds with loopwise demo")
    parser.add_argument(
        "--contacts", type=int, default=DEMO_CONTACTS, help="contacts per world (email volume scales with it)"
    )
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    started = time.perf_counter()
    worlds = (
        [(s, False, args.incident_min_day) for s in args.seeds]
        + [(s, False, DEFAULT_MIN_DAY) for s in args.default_seeds]
        + [(s, True, DEFAULT_MIN_DAY) for s in args.clean_seeds]
    )
    for seed, clean, min_day in worlds:  # one pipeline at a time, before any replay
        ensure_world(
            world_spec(seed, clean, min_day, args.contacts),
            home_of(args.home_prefix, seed, clean, min_day, args.contacts),
            args.run_pipeline,
        )
    started = time.perf_counter()
    results = []
    for seed, clean, min_day in worlds:
        home = home_of(args.home_prefix, seed, clean, min_day, args.contacts)
        result = replay(seed, clean, min_day, home, args.first_day)
        print(
            f"seed {seed} ({'clean' if clean else f'from day {min_day}'}): {len(result.pages)} pages, "
            f"{sum(p.matched is not None for p in result.pages)} matched, {result.seconds:.0f}s",
            flush=True,
        )
        results.append(result)
    text = report(results, args.first_day, time.perf_counter() - started, args.contacts)
    Path(args.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
