"""Build the weekly digest from the warehouse: plain English from the ``results`` tables.

Every table is optional (a fresh warehouse, or a table a later release adds): a missing one
leaves its section saying there is nothing to report. Columns other helpers add to
``results.decision_log`` (predicted and realized intervals, ``verdict``) are read only when
present. Every entity is named through :class:`~decision_engine.digest.names.NameBook`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from decision_engine.digest.charts import budget_chart, experiments_chart, impact_chart
from decision_engine.digest.model import (
    Digest,
    DigestPeriod,
    PendingApproval,
    Section,
    SectionCode,
    local_date,
    period_for,
)
from decision_engine.digest.names import NameBook, platform_name, quoted
from decision_engine.digest.wording import (
    DECIDED_TEXT,
    VERDICT_TEXT,
    approved_by_text,
    describe_change,
    flag,
    impact_text,
    money,
    number,
    parse_json,
    percent,
    predicted_column,
    realized_column,
    signed_money,
)
from decision_engine.store import table_exists

CHANGED = ("executed", "verified", "rolled_back")
FINAL_DECISIONS = ("ship", "keep_control", "stop_for_harm")
MAX_LINES = 12  # per section; the rest is counted


def build_digest(con: Any, now: datetime, timezone: str = "UTC") -> Digest:
    """The digest of the seven days before ``now``, dated in ``timezone`` (see :func:`period_for`)."""
    period = period_for(now, timezone)
    names = NameBook.from_warehouse(con)
    digest = Digest(period=period, generated_at=now, data_as_of=_data_as_of(con))
    changes = _frame(con, "decision_log")
    actions = _frame(con, "actions")
    pending = pending_approvals(actions, names, now, timezone)
    digest.pending = pending
    digest.sections = [
        Section(
            SectionCode.NEEDS_DECISION,
            tuple(item.line() for item in pending),
            "Nothing is waiting for a human decision.",
            note=f"{len(pending)} change(s) wait for approval: `loopwise actions list --status pending_approval`, "
            "then `loopwise actions approve` or `reject`."
            if pending
            else None,
        ),
        _changes_section(changes, actions, names, period),
        _predicted_vs_realized_section(con, changes, names),
        _experiments_section(con, names, period),
        send_time_section(con),
        content_section(con, names),
        _budget_section(con, names),
        _incidents_section(con, actions, names, period),
    ]
    digest.headline = _headline(digest)
    digest.charts = [
        chart
        for chart in (
            impact_chart(_changes_in(changes, period), names),
            budget_chart(_latest(_frame(con, "budget_entity_recommendations")), names),
            experiments_chart(_latest_per_experiment(_frame(con, "experiment_decisions")), names),
        )
        if chart is not None
    ]
    return digest


# ---- reading -------------------------------------------------------------------------------------
def _frame(con: Any, table: str) -> pd.DataFrame:
    if not table_exists(con, "results", table):
        return pd.DataFrame()
    return con.execute(f'select * from results."{table}"').df()


def _latest(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the latest analysis (tables keep every analysis's rows)."""
    if frame.empty or "analysis_timestamp" not in frame:
        return frame
    return frame[frame["analysis_timestamp"] == frame["analysis_timestamp"].max()]


def _latest_per_experiment(decisions: pd.DataFrame) -> pd.DataFrame:
    if decisions.empty:
        return decisions
    ordered = decisions.sort_values(["analysis_timestamp", "analysis_date"])
    return ordered.groupby("experiment_id", as_index=False).tail(1).sort_values("experiment_id")


def _data_as_of(con: Any) -> Any:
    dates = []
    for table in ("experiment_decisions", "budget_entity_recommendations", "anomaly_alerts", "actions"):
        if table_exists(con, "results", table):
            (newest,) = con.execute(f'select max(analysis_date) from results."{table}"').fetchone()
            if newest is not None:
                dates.append(pd.Timestamp(newest).date())
    return max(dates) if dates else None


def _changes_in(changes: pd.DataFrame, period: DigestPeriod) -> pd.DataFrame:
    if changes.empty:
        return changes
    mask = changes["decided_at"].map(period.contains) & changes["status"].isin(CHANGED)
    return changes[mask]


def _payloads(actions: pd.DataFrame) -> dict[str, dict[str, Any]]:
    if actions.empty:
        return {}
    return {str(a): parse_json(p) for a, p in zip(actions["action_id"], actions["payload"], strict=True)}


def _changes_section(
    changes: pd.DataFrame, actions: pd.DataFrame, names: NameBook, period: DigestPeriod
) -> Section:
    empty = "Loopwise changed nothing this week."
    if changes.empty:
        return Section(SectionCode.CHANGES, (), empty)
    payloads = _payloads(actions)
    made = _changes_in(changes, period)
    lines = []
    for _, row in made.iterrows():
        sentence = describe_change(row, payloads.get(str(row["action_id"]), {}), names)
        state = DECIDED_TEXT.get(str(row["status"]), str(row["status"]))
        who = approved_by_text(row)
        impact = impact_text(row, changes)
        lines.append(
            f"{sentence}: {state}{' ' + who if who else ''} on {local_date(row['decided_at'], period.timezone):%a %d %b}."
            + (f" Impact: {impact}." if impact else "")
        )
    others = changes[changes["decided_at"].map(period.contains) & ~changes["status"].isin(CHANGED)]
    counts = others["status"].value_counts()
    note = None
    if len(counts):
        note = "Also this week: " + ", ".join(
            f"{count} {DECIDED_TEXT.get(status, status)}" for status, count in counts.items()
        )
        note += " (`loopwise actions list` shows them)."
    return Section(SectionCode.CHANGES, _capped(lines, "changes"), empty, note=note)


def _capped(lines: list[str], what: str) -> tuple[str, ...]:
    if len(lines) <= MAX_LINES:
        return tuple(lines)
    return (*lines[:MAX_LINES], f"... and {len(lines) - MAX_LINES} more {what}.")


# ---- predicted vs realized -----------------------------------------------------------------------
def _calibration(con: Any) -> dict[str, Any] | None:
    """``decision_engine.decision_log.calibration`` when this release has it."""
    from decision_engine import decision_log

    function = getattr(decision_log, "calibration", None)
    if function is None:
        return None
    try:
        return dict(function(con))
    except Exception:  # a table of an older layout: the section falls back to its own counts
        return None


def _predicted_vs_realized_section(con: Any, changes: pd.DataFrame, names: NameBook) -> Section:
    empty = "No change Loopwise made has been measured yet."
    if changes.empty:
        return Section(SectionCode.PREDICTED_VS_REALIZED, (), empty)
    applied = changes[changes["status"].isin(CHANGED)]
    predicted_name, realized_name = predicted_column(applied), realized_column(applied)
    predicted = applied[predicted_name].map(number) if predicted_name else pd.Series(dtype=float)
    realized = applied[realized_name].map(number) if realized_name else pd.Series(dtype=float)
    lines = []
    with_prediction = int(predicted.notna().sum())
    measured = applied[realized.notna()] if len(realized) else applied.iloc[0:0]
    if with_prediction:
        lines.append(
            f"{len(applied)} change(s) applied so far; {with_prediction} with a predicted impact "
            f"(together {signed_money(float(predicted.sum()))} a day in revenue), {len(measured)} measured."
        )
    stats = _calibration(con) or {}
    matured = stats.get("matured")
    if matured:
        share = stats.get("calibration")
        inside = stats.get("inside_90")
        if share is not None:
            lines.append(
                f"Calibration: {inside} of {stats.get('judged', matured)} measured change(s) landed inside their "
                f"predicted 90% interval, widened by the measurement's noise ({percent(float(share), signed=False)}; "
                "well calibrated is about 90%)."
            )
        ratio = stats.get("realized_vs_predicted")
        if ratio is not None:
            lines.append(f"Realized impact was {float(ratio):.0%} of the predicted impact, summed over them.")
    elif len(measured) and with_prediction:
        both = measured[predicted.loc[measured.index].notna()]
        total_predicted = float(predicted.loc[both.index].sum())
        if total_predicted:
            lines.append(
                f"Realized impact was {float(realized.loc[both.index].sum()) / total_predicted:.0%} of the "
                "predicted impact, summed over the measured changes."
            )
    if "verdict" in applied:
        verdicts = applied["verdict"].dropna().value_counts()
        if len(verdicts):
            lines.append(
                "Verdicts: " + ", ".join(f"{n} {VERDICT_TEXT.get(v, v)}" for v, n in verdicts.items()) + "."
            )
    if not measured.empty:
        payload_free = {}
        for _, row in measured.tail(5).iterrows():
            lines.append(f"{describe_change(row, payload_free, names)}: {impact_text(row, applied)}.")
    return Section(SectionCode.PREDICTED_VS_REALIZED, tuple(lines), empty)


# ---- experiments ---------------------------------------------------------------------------------
DECISION_TEXT = {
    "ship": "ship the variant",
    "keep_control": "keep the control",
    "stop_for_harm": "stopped: the variant was doing harm",
    "continue": "still collecting data",
    "report": "program effect measured",
}


def _experiment_line(row: Any, names: NameBook) -> str:
    what = names.experiment(str(row["experiment_id"]))
    decision = str(row["decision"])
    text = f"{what[:1].upper()}{what[1:]}: {DECISION_TEXT.get(decision, decision.replace('_', ' '))}"
    metric = str(row.get("primary_metric") or "").replace("_", " ")
    lift = number(row.get("relative_lift"))
    low, high = number(row.get("relative_ci_lower")), number(row.get("relative_ci_upper"))
    if lift is not None and metric:
        band = (
            f" (interval {percent(low)} to {percent(high)})" if low is not None and high is not None else ""
        )
        text += f"; {metric} {percent(lift)}{band}"
    if decision == "continue":
        share = number(row.get("information_fraction"))
        if share is not None and share < 1:
            text += f"; {share:.0%} of the planned sample so far"
        reason = row.get("explanation")
        if isinstance(reason, str) and "needs about" in reason:
            text += f"; {names.humanize(reason[reason.index('needs about') :].split('.')[0])}"
    return text + "."


def _experiments_section(con: Any, names: NameBook, period: DigestPeriod) -> Section:
    empty = "No experiment is running or was decided."
    latest = _latest_per_experiment(_frame(con, "experiment_decisions"))
    lines: list[str] = []
    note = None
    if not latest.empty:
        running = latest[latest["decision"] == "continue"]
        concluded = latest[latest["decision"].isin(FINAL_DECISIONS)]
        this_week = concluded[concluded["analysis_date"].map(period.contains_day)]
        earlier = len(concluded) - len(this_week)
        note = (
            f"{len(running)} running, {len(this_week)} concluded this week"
            + (f", {earlier} concluded before" if earlier else "")
            + "."
        )
        ships = int((concluded["decision"] == "ship").sum())
        if len(concluded):
            note += f" Of all {len(concluded)} concluded, {ships} shipped a variant."
        for _, row in this_week.iterrows():
            lines.append("Concluded: " + _experiment_line(row, names))
        for _, row in running.iterrows():
            lines.append("Running: " + _experiment_line(row, names))
        for _, row in latest[latest["decision"] == "report"].iterrows():
            lines.append(_experiment_line(row, names))
    hypotheses = _frame(con, "hypotheses")
    if not hypotheses.empty and "status" in hypotheses:
        latest_hypotheses = _latest(hypotheses)
        candidates = latest_hypotheses[latest_hypotheses["status"] == "candidate"]
        if "rank" in candidates:
            candidates = candidates.sort_values("rank")
        for _, row in candidates.head(3).iterrows():
            description = names.humanize(str(row.get("description") or row.get("factor") or "a test idea"))
            weeks = number(row.get("weeks_to_decision"))
            human = " (needs a human: not in the approved library)" if flag(row.get("needs_human")) else ""
            lines.append(
                f"Next in the backlog: {description}"
                + (f", about {weeks:.0f} week(s) to a decision" if weeks is not None else "")
                + f"{human}."
            )
    return Section(SectionCode.EXPERIMENTS, _capped(lines, "experiments"), empty, note=note)


# ---- send time and content: the randomized lifts ------------------------------------------------
LIFT_MAX_WIDTH = 0.40  # a 95% interval wider than 40 points of lift says too little to report a number


def _pct(value: float) -> str:
    return f"{value:.0%}"


@dataclass(frozen=True)
class _LiftReading:
    """The personalized arm against the control on one metric of the newest lift table's rows."""

    counted: str  # "1,234 sends over 3 campaigns"
    lift: float | None
    low: float | None
    high: float | None

    @property
    def measured(self) -> bool:
        return None not in (self.lift, self.low, self.high)

    @property
    def band(self) -> str:
        return f"95% interval {_pct(self.low)} to {_pct(self.high)}, {self.counted}"

    @property
    def too_wide(self) -> bool:
        return self.high - self.low > LIFT_MAX_WIDTH

    @property
    def clear(self) -> bool:
        return self.low > 0 or self.high < 0


def _newest_lift(con: Any, table: str) -> pd.DataFrame:
    """The rows of the newest analysis of a lift table (``results.send_time_lift``, ``content_lift``)."""
    lift = _frame(con, table)
    if lift.empty:
        return lift
    latest = lift[lift["analysis_date"] == lift["analysis_date"].max()]
    return latest[latest["analysis_timestamp"] == latest["analysis_timestamp"].max()]


def _lift_reading(latest: pd.DataFrame, metric: str) -> _LiftReading | None:
    rows = latest[latest["metric"] == metric].set_index("arm")
    if rows.empty:
        return None
    compared = rows[rows.index.isin(["personalized", "control"])]
    sends = int(compared["sends"].sum())
    campaigns = int(rows["campaigns"].max())
    counted = f"{sends:,} sends over {campaigns:,} campaign{'s' if campaigns != 1 else ''}"
    row = rows.loc["personalized"] if "personalized" in rows.index else None
    if row is None:
        return _LiftReading(counted, None, None, None)
    return _LiftReading(
        counted, number(row["relative_lift"]), number(row["ci_lower"]), number(row["ci_upper"])
    )


def _send_time_lift_sentence(latest: pd.DataFrame) -> str | None:
    reading = _lift_reading(latest, "human_open_rate")
    if reading is None:
        return None
    if not reading.measured:
        return (
            f"Send time: not enough sends yet to compare each contact's own best hour with the randomized "
            f"control at the account's best hour ({reading.counted} so far)."
        )
    lift = reading.lift
    if reading.too_wide:
        return (
            f"Send time: not enough sends yet to tell whether sending at each contact's own best hour beats "
            f"the randomized control at the account's best hour (so far {lift:+.0%} human opens, {reading.band})."
        )
    if reading.clear:
        direction = "more" if lift > 0 else "fewer"
        return (
            f"Send time: sending at each contact's own best hour got {_pct(abs(lift))} {direction} human opens "
            f"than the randomized control sent at the account's best hour ({reading.band})."
        )
    return (
        f"Send time: no clear difference yet between sending at each contact's own best hour and the "
        f"randomized control at the account's best hour ({lift:+.0%} human opens, {reading.band})."
    )


def send_time_section(con: Any) -> Section:
    """The send-time paragraph: the newest ``results.send_time_lift`` (personalized against the
    randomized control, human opens) and who has a ``results.send_time_profiles`` hour."""
    empty = "Send time: not enough sends yet (no campaign has gone out at each contact's best hour with a randomized control)."
    lines = []
    lift = _newest_lift(con, "send_time_lift")
    if not lift.empty:
        sentence = _send_time_lift_sentence(lift)
        explore = lift[(lift["metric"] == "human_open_rate") & (lift["arm"] == "explore")]
        share = number(explore["share_of_sends"].iloc[0]) if len(explore) else None
        if sentence:
            if share:
                sentence += f" {_pct(share)} of sends explore other hours to keep learning."
            lines.append(sentence)
    if table_exists(con, "results", "send_time_profiles"):
        counts = con.execute(
            "select source, count(*) from results.send_time_profiles "
            "where analysis_date = (select max(analysis_date) from results.send_time_profiles) group by source"
        ).fetchall()
        by_source = {str(source): int(n) for source, n in counts}
        total = sum(by_source.values())
        if total:
            lines.append(
                f"{total:,} contacts have a send hour: {by_source.get('contact', 0):,} from their own opens and "
                f"clicks, {by_source.get('segment', 0):,} from contacts with a similar rhythm, "
                f"{by_source.get('account', 0):,} at the account's best hour (too little engagement of their own)."
            )
    if not lines:
        return Section(SectionCode.SEND_TIME, (), empty)
    if not lift.empty and not any(line.startswith("Send time:") for line in lines):
        lines.insert(0, "Send time: not enough sends yet to measure the lift.")
    if lift.empty:
        lines.insert(
            0, "Send time: not enough sends yet; no campaign has been sent by send time with a control."
        )
    return Section(SectionCode.SEND_TIME, tuple(lines), empty)


CONTENT_VERSUS = "the randomized control shown angles drawn at random"


def _content_lift_sentence(reading: _LiftReading | None) -> str:
    if reading is None or not reading.measured:
        so_far = f" ({reading.counted} so far)" if reading is not None else ""
        return (
            "Content: not enough matured sends yet to compare each recipient's preferred content angle with "
            f"{CONTENT_VERSUS}{so_far}."
        )
    lift = reading.lift
    if reading.too_wide:
        return (
            "Content: not enough matured sends yet to tell whether each recipient's preferred content angle "
            f"beats {CONTENT_VERSUS} (so far {lift:+.0%} clicks, {reading.band})."
        )
    if reading.clear:
        direction = "more" if lift > 0 else "fewer"
        return (
            f"Content: each recipient's preferred content angle got {_pct(abs(lift))} {direction} clicks than "
            f"{CONTENT_VERSUS} ({reading.band})."
        )
    return (
        "Content: no clear difference yet between each recipient's preferred content angle and "
        f"{CONTENT_VERSUS} ({lift:+.0%} clicks, {reading.band})."
    )


def content_section(con: Any, names: NameBook) -> Section:
    """The content paragraph: the newest ``results.content_lift`` (personalized against the randomized
    control, clicks) and, by name, each campaign whose content angle was chosen per recipient with its
    recipients per arm (``results.content_assignments``, the latest row per campaign and contact),
    newest first."""
    empty = "Content: no campaign has had its content angle chosen per recipient yet."
    if not table_exists(con, "results", "content_assignments"):
        return Section(SectionCode.CONTENT, (), empty)
    campaigns = con.execute(
        """
        with latest as (
            select campaign_id, arm, assigned_at
            from results.content_assignments
            qualify row_number() over (
                partition by campaign_id, contact_id order by assigned_at desc nulls last
            ) = 1
        )
        select campaign_id,
            count(*) filter (where arm = 'personalized') as personalized,
            count(*) filter (where arm = 'control') as control
        from latest
        group by campaign_id
        order by max(assigned_at) desc nulls last, campaign_id
        """
    ).fetchall()
    if not campaigns:
        return Section(SectionCode.CONTENT, (), empty)
    lift = _newest_lift(con, "content_lift")
    lines = [_content_lift_sentence(_lift_reading(lift, "click_rate") if not lift.empty else None)]
    for campaign_id, personalized, control in campaigns:
        campaign = names.name(campaign_id, "email_campaign")
        lines.append(
            f"{campaign[:1].upper()}{campaign[1:]}: {personalized:,} recipients got their preferred angle, "
            f"{control:,} were in the control."
        )
    return Section(SectionCode.CONTENT, _capped(lines, "campaigns"), empty)


# ---- budget --------------------------------------------------------------------------------------
def _budget_section(con: Any, names: NameBook) -> Section:
    empty = "No budget analysis yet."
    latest = _latest(_frame(con, "budget_entity_recommendations"))
    if latest.empty:
        return Section(SectionCode.BUDGET, (), empty)
    current = float(latest["expected_daily_revenue_current"].fillna(0).sum())
    recommended = float(latest["expected_daily_revenue_recommended"].fillna(0).sum())
    day = latest["analysis_date"].max()
    note = (
        f"Latest budget analysis (ad data to {pd.Timestamp(day):%a %d %b}): the recommended budgets are expected "
        f"to bring {money(recommended)} a day in platform-attributed revenue against {money(current)} now "
        f"({signed_money(recommended - current)})."
    )
    moves = latest.assign(move=(latest["recommended_daily_budget"] - latest["current_daily_budget"]).abs())
    lines = []
    for _, row in moves.sort_values("move", ascending=False).iterrows():
        name = row.get("budget_entity_name")
        kind = str(row.get("budget_entity_type"))
        vendor = platform_name(row.get("platform"))
        label = names.name(row["budget_entity_id"], kind)
        if isinstance(name, str) and name.strip() and label.startswith(("a ", "an ")):
            label = f"{vendor} {kind.replace('_', ' ').replace('adset', 'ad set')} {quoted(name)}"
        before, after = number(row["current_daily_budget"]), number(row["recommended_daily_budget"])
        if before is None or after is None:
            continue
        change = f"{percent(after / before - 1)}" if before else "new"
        auto = (
            "applies on its own"
            if flag(row.get("auto_apply_allowed"))
            else "needs approval beyond the auto limit"
        )
        lines.append(
            f"{label[:1].upper()}{label[1:]}: {money(before)} -> {money(after, row.get('currency'))} a day "
            f"({change}; {auto})."
        )
    return Section(SectionCode.BUDGET, _capped(lines, "budgets"), empty, note=note)


# ---- incidents -----------------------------------------------------------------------------------
def _incident_title(incident_type: str) -> str:
    from decision_engine.anomalies.playbook import PLAYBOOKS

    playbook = PLAYBOOKS.get(incident_type)
    return playbook.title if playbook else incident_type.replace("_", " ").capitalize()


def _metric_label(metric: str) -> str:
    from decision_engine.anomalies.metrics import metric_spec

    try:
        return metric_spec(metric).label
    except (KeyError, ValueError):
        return metric.replace("_", " ")


def _incidents_section(con: Any, actions: pd.DataFrame, names: NameBook, period: DigestPeriod) -> Section:
    empty = "No incident this week."
    alerts = _latest(_frame(con, "anomaly_alerts"))
    if alerts.empty:
        return Section(SectionCode.INCIDENTS, (), empty)
    rollbacks = {}
    if not actions.empty:
        for _, action in actions[actions["action_type"] == "reverse_change"].iterrows():
            incident = parse_json(action.get("evidence")).get("incident_id")
            if incident:
                rollbacks[str(incident)] = str(action["status"])
    lines = []
    resolved_before = 0
    for incident_id, rows in alerts.groupby("incident_id", sort=False):
        first = rows.iloc[0]
        start, end = (
            local_date(rows["window_start"].min(), "UTC"),
            local_date(rows["window_end"].max(), "UTC"),
        )
        status = str(first["status"])
        in_week = end is not None and end >= period.first_day
        if status != "open" and not in_week:
            resolved_before += 1
            continue
        entities = sorted({names.anomaly_entity(e) for e in rows["entity"]})
        metrics = sorted({_metric_label(str(m)) for m in rows["metric"]})
        when = f"{start:%a %d %b}" if start == end else f"{start:%a %d %b} to {end:%a %d %b}"
        ended = "still open" if status == "open" else "resolved"
        rollback = rollbacks.get(str(incident_id))
        if rollback:
            ended += f"; Loopwise proposed reversing its change ({DECIDED_TEXT.get(rollback, rollback)})"
        lines.append(
            f"{_incident_title(str(first['incident_type']))} ({first['severity']}) on {', '.join(entities[:3])}"
            f"{' and more' if len(entities) > 3 else ''}, {when}: {', '.join(metrics[:3])}. How it ended: {ended}."
        )
    note = (
        f"{resolved_before} earlier incident(s) were already resolved before this week."
        if resolved_before
        else None
    )
    return Section(SectionCode.INCIDENTS, _capped(lines, "incidents"), empty, note=note)


# ---- what needs a human --------------------------------------------------------------------------
def pending_approvals(
    actions: pd.DataFrame, names: NameBook, now: datetime, timezone: str
) -> list[PendingApproval]:
    """Every action waiting for a human, oldest first, each with one line of context."""
    if actions.empty:
        return []
    waiting = actions[actions["status"] == "pending_approval"].sort_values(["status_at", "action_id"])
    items = []
    for _, row in waiting.iterrows():
        payload = parse_json(row.get("payload"))
        reasons = parse_json(row.get("policy_reasons"))
        why = reasons[-1] if isinstance(reasons, list) and reasons else row.get("status_reason") or "policy"
        since = pd.Timestamp(row["status_at"])
        since = since.tz_localize("UTC") if since.tzinfo is None else since
        waited = max((pd.Timestamp(now) - since).total_seconds() / 86400, 0.0)
        items.append(
            PendingApproval(
                what=describe_change(row, payload, names, proposed=True),
                why=names.humanize(str(why)).rstrip("."),
                waiting_days=waited,
                lapses_on=local_date(row.get("expires_at"), timezone),
            )
        )
    return items


def _headline(digest: Digest) -> list[str]:
    """The three numbers a reader wants first."""
    changes = digest.section(SectionCode.CHANGES)
    experiments = digest.section(SectionCode.EXPERIMENTS)
    incidents = digest.section(SectionCode.INCIDENTS)
    return [
        f"{len(digest.pending)} decision(s) wait for you.",
        f"{len([line for line in changes.lines if not line.startswith('...')])} change(s) applied this week.",
        experiments.note or "No experiments.",
        f"{len(incidents.lines)} incident(s) this week or still open.",
    ]
