"""One scores run, end to end, without Dagster.

:func:`run_scores` reads ``marts.fct_orders``, ``marts.fct_crm_funnel``, ``marts.fct_email_sends``
and ``marts.fct_deals``; scores customer value and churn risk (every person with an order) and
lead scores (every open CRM contact); validates each on its latest matured window; and writes
``results.customer_value``, ``results.churn_risk``, ``results.lead_scores`` and one row per score
in ``results.score_models``. A score the data cannot support (too few customers or deals) is
written as ``not_scored`` with the reason, and the other scores still run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from decision_engine.scores.churn import churn_risk
from decision_engine.scores.codes import ScoreStatus
from decision_engine.scores.customer_value import CustomerValueScores, score_customer_value
from decision_engine.scores.holdout import evaluate_holdout
from decision_engine.scores.leads import LeadScores, LeadScoreSettings, score_leads
from decision_engine.scores.transactions import ScoreInputError, summarize_transactions
from decision_engine.scores.warehouse import (
    ORDER_COLUMNS,
    last_email_engagement,
    load_crm_history,
    load_orders,
)
from decision_engine.store import ensure_results_table, write_results


@dataclass(frozen=True)
class ScoreSettings:
    horizon_days: int = 90
    holdout_days: int = 90  # at most a third of the order history is held out
    leads: LeadScoreSettings = field(default_factory=LeadScoreSettings)


@dataclass
class ScoresRun:
    models: pd.DataFrame  # results.score_models rows
    customer_value: pd.DataFrame
    churn: pd.DataFrame
    leads: pd.DataFrame

    @property
    def headline(self) -> str:
        parts = [f"{len(self.customer_value)} customers valued", f"{len(self.leads)} leads scored"]
        at_risk = int(self.churn["segment"].isin(["at_risk", "lapsed"]).sum()) if len(self.churn) else 0
        return ", ".join(parts) + f", {at_risk} at risk or lapsed"


def _model_row(now: datetime, analysis_date: date | None, score: str, **values: Any) -> dict[str, Any]:
    return {"analysis_timestamp": now, "analysis_date": analysis_date, "score": score, **values}


def _not_scored(now: datetime, analysis_date: date | None, score: str, reason: str) -> dict[str, Any]:
    """Without a data date, a score that could not be produced is dated by the day of the run."""
    day = analysis_date or now.date()
    return _model_row(now, day, score, status=ScoreStatus.NOT_SCORED.value, note=reason, scored=0)


def score_orders(orders: pd.DataFrame, settings: ScoreSettings) -> tuple[CustomerValueScores, Any]:
    """Customer value up to the last order day, and its validation on the latest matured holdout."""
    if orders.empty:
        raise ScoreInputError("no orders in marts.fct_orders")
    days = pd.to_datetime(orders[ORDER_COLUMNS.date])
    first, last = days.min().date(), days.max().date()
    scores = score_customer_value(summarize_transactions(orders, ORDER_COLUMNS, last), settings.horizon_days)
    holdout_days = min(settings.holdout_days, (last - first).days // 3)
    if holdout_days < 1:
        raise ScoreInputError(f"orders span {(last - first).days} day(s): too short to hold any out")
    holdout = evaluate_holdout(orders, ORDER_COLUMNS, last - timedelta(days=holdout_days), holdout_days)
    return scores, holdout


def _customer_value_rows(now: datetime, scores: CustomerValueScores) -> pd.DataFrame:
    s = scores.summary
    return pd.DataFrame(
        {
            "analysis_timestamp": now,
            "analysis_date": s.calibration_end,
            "contact_id": s.customers,
            "model": scores.model,
            "frequency": s.frequency,
            "recency_days": s.recency_days.astype("int64"),
            "age_days": s.age_days.astype("int64"),
            "average_order_value": s.average_value,
            "p_alive": scores.p_alive,
            "horizon_days": scores.horizon_days,
            "expected_purchases": scores.expected_purchases,
            "expected_value": scores.expected_value,
        }
    )


def _lead_rows(now: datetime, leads: LeadScores, window_days: int) -> pd.DataFrame:
    frame = leads.scores
    return pd.DataFrame(
        {
            "analysis_timestamp": now,
            "analysis_date": leads.as_of.date(),
            "contact_id": frame.index.to_numpy(),
            "probability": frame["probability"].to_numpy(),
            "tier": frame["tier"].to_numpy(),
            "window_days": window_days,
            "lifecycle_stage_order": frame["stage_order"].astype("int64").to_numpy(),
            "days_in_stage": frame["days_in_stage"].to_numpy(),
            "emails_clicked_30d": frame["emails_clicked_30d"].to_numpy(),
        }
    )


def run_scores(con: Any, settings: ScoreSettings, now: datetime) -> ScoresRun:
    """Score, validate and write every score from the marts in ``con`` (DuckDB)."""
    models: list[dict[str, Any]] = []
    value_rows = churn_rows = lead_rows = pd.DataFrame()
    orders = load_orders(con)
    try:
        scores, holdout = score_orders(orders, settings)
    except ScoreInputError as error:
        models.append(_not_scored(now, None, "customer_value", str(error)))
        models.append(_not_scored(now, None, "churn_risk", f"no customer value: {error}"))
    else:
        end = scores.summary.calibration_end
        value_rows = _customer_value_rows(now, scores)
        models.append(
            _model_row(
                now,
                end,
                "customer_value",
                status=ScoreStatus.SCORED.value,
                model=scores.model,
                params=json.dumps(scores.params()),
                rows_read=scores.summary.rows_read,
                excluded=json.dumps(scores.summary.excluded),
                scored=len(value_rows),
                validation_date=holdout.calibration_end,
                validation_days=holdout.holdout_days,
                validation_mae=holdout.model.mean_absolute_error,
                baseline_past_rate_mae=holdout.past_rate.mean_absolute_error,
                baseline_population_mae=holdout.population_mean.mean_absolute_error,
                validation_predicted_total=holdout.model.predicted_total,
                validation_actual_total=float(holdout.actual_total),
                note_codes=",".join(note.value for note in scores.notes),
                note="; ".join(scores.note_text()),
            )  # fmt: skip
        )
        as_of = datetime.combine(end + timedelta(days=1), datetime.min.time())
        p_alive = pd.Series(scores.p_alive, index=pd.Index(scores.summary.customers, name="contact_id"))
        churn = churn_risk(p_alive, last_email_engagement(con), as_of)
        churn_rows = churn.reset_index().assign(analysis_timestamp=now, analysis_date=end)
        models.append(
            _model_row(
                now,
                end,
                "churn_risk",
                status=ScoreStatus.SCORED.value,
                model="p_alive x engagement decay",
                scored=len(churn_rows),
            )  # fmt: skip
        )
    history = load_crm_history(con)
    if history.transitions.empty:
        models.append(
            _not_scored(now, None, "lead_scores", "no CRM lifecycle history in marts.fct_crm_funnel")
        )
    else:
        as_of = pd.Timestamp(history.last_event).normalize().to_pydatetime() + timedelta(days=1)
        try:
            leads = score_leads(history, as_of, settings.leads)
        except ScoreInputError as error:
            models.append(_not_scored(now, as_of.date(), "lead_scores", str(error)))
        else:
            lead_rows = _lead_rows(now, leads, settings.leads.window_days)
            report = leads.report
            models.append(
                _model_row(
                    now,
                    as_of.date(),
                    "lead_scores",
                    status=ScoreStatus.SCORED.value,
                    model="gradient_boosting+isotonic",
                    scored=len(lead_rows),
                    validation_date=report.validated_at.date(),
                    validation_days=settings.leads.window_days,
                    validation_predicted_total=report.expected_positives,
                    validation_actual_total=float(report.positives),
                    auc=report.auc,
                    calibration_error=report.calibration_error,
                    top_decile_lift=report.top_decile_lift,
                )  # fmt: skip
            )
    model_frame = pd.DataFrame(models)
    _write(con, "customer_value", value_rows)
    _write(con, "churn_risk", churn_rows)
    _write(con, "lead_scores", lead_rows)
    write_results(con, "score_models", model_frame, replace_where=("score", "analysis_date"))
    return ScoresRun(models=model_frame, customer_value=value_rows, churn=churn_rows, leads=lead_rows)


def _write(con: Any, table: str, frame: pd.DataFrame) -> None:
    if len(frame):
        write_results(con, table, frame, replace_where=("analysis_date",))
    else:
        ensure_results_table(con, table)  # BI still finds the table
