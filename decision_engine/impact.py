"""Predicted and realized impact of a change, and the verdict that compares them (pure statistics).

Every impact is a *relative* change of the change's metric (0.04 = +4%), with a 90% interval:

* a budget move predicts the relative change of its entity's daily revenue: the curve's expected
  revenue at the new budget over that at the old one, with the posterior draws' 90% interval
  (``decision_engine.budget``); it is measured against the model's counterfactual
  (:func:`counterfactual_change`: the revenue observed over the horizon over the curve's forecast
  at the old budget, both uncertainties carried);
* a rollout predicts the relative lift its experiment measured; it is measured by the holdback
  kept on the old variant (:func:`holdback_lift`: variant versus holdback sends after the ship);
* a send-time schedule (``schedule_send_times``) predicts the relative lift in human open rate of
  sending at each contact's own best hour; it is measured by the campaign's concurrent randomized
  control at the account's best hour (``decision_engine.personalization.send_time_lift``).

The verdict (:func:`judge`) compares the realized estimate with the prediction. The realized
estimate is the truth plus measurement noise, so it is judged against the *predictive* interval
of the measurement: the predicted 90% interval widened by the measurement's own standard error
on each side (``sqrt(prediction half-width^2 + (z * se)^2)``). A calibrated prediction lands
inside it 90% of the time however noisy the measurement; checking against the bare predicted
interval would call a calibrated prediction wrong more often the noisier the measurement.
A measurement noisier than both the predicted effect and the prediction's own uncertainty
(``z * se > max(|predicted|, predicted half-width)``) could tell neither the change from no
change nor the interval from a wider one: its verdict is ``inconclusive``. It still counts in the
calibration (:func:`lands_inside`): whether it landed inside the predictive interval is a fair
draw of a calibrated prediction's 90% whatever the noise, so leaving it out would only leave the
calibration unmeasured (a week of one budget's revenue or one campaign's control is that noisy).
Noisy measurements test the prediction's *width* weakly (the noise dominates the predictive
interval) but its *bias* fully, and an overconfident prediction measured precisely still scores
far under 90% (both checked by simulation in ``tests/decision_engine/test_impact.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import stats

from decision_engine.experiments.inference import arm_moments, compare_arms

LEVEL = 0.90  # every predicted and realized interval of the decision log
Z = float(stats.norm.ppf(0.5 + LEVEL / 2))  # 1.645


class Verdict(StrEnum):
    AS_PREDICTED = "as_predicted"  # realized estimate inside the predictive 90% interval
    BETTER = "better"  # above it
    WORSE = "worse"  # below it
    INCONCLUSIVE = "inconclusive"  # the measurement is too noisy to judge (module docstring)
    PENDING = "pending"  # the measurement window has not matured


class EvaluationMethod(StrEnum):
    SHIP_HOLDBACK = "ship_holdback"  # variant versus the holdback kept on the old variant
    MODEL_COUNTERFACTUAL = "model_counterfactual"  # observed revenue versus the curve at the old budget
    # sends at each contact's own best hour versus the concurrent randomized control (account's best hour)
    RANDOMIZED_HOLDOUT = "randomized_holdout"


@dataclass(frozen=True)
class Estimate:
    """A relative change and its 90% interval (``low <= point <= high``; the ends may be None)."""

    point: float
    low: float | None = None
    high: float | None = None

    @property
    def has_interval(self) -> bool:
        return all(_finite(v) for v in (self.point, self.low, self.high)) and self.low <= self.high

    @property
    def standard_error(self) -> float:
        """The interval's half-width over z (a normal reading of an asymmetric interval)."""
        return (self.high - self.low) / (2 * Z)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def rescale_interval(point: float, low: float, high: float, level: float) -> Estimate:
    """A ``level`` relative interval (e.g. a 95% CI) as a 90% one, on the log-ratio scale the
    experiment analysis builds its intervals on (linear when an end is at or below -100%)."""
    factor = Z / float(stats.norm.ppf(0.5 + level / 2))
    if min(point, low, high) > -1:
        centre = math.log1p(point)
        return Estimate(
            point,
            math.expm1(centre - factor * (centre - math.log1p(low))),
            math.expm1(centre + factor * (math.log1p(high) - centre)),
        )
    return Estimate(point, point - factor * (point - low), point + factor * (high - point))


def predictive_interval(predicted: Estimate, realized: Estimate) -> tuple[float, float]:
    """The predicted interval widened by the measurement's noise (module docstring)."""
    noise = Z * realized.standard_error
    below = math.hypot(predicted.point - predicted.low, noise)
    above = math.hypot(predicted.high - predicted.point, noise)
    return predicted.point - below, predicted.point + above


def is_conclusive(predicted: Estimate, realized: Estimate) -> bool:
    """Whether the measurement is precise enough to judge the prediction (module docstring)."""
    half_width = (realized.high - realized.low) / 2
    return half_width <= max(abs(predicted.point), (predicted.high - predicted.low) / 2)


def lands_inside(predicted: Estimate, realized: Estimate | None) -> bool | None:
    """Whether a measured change landed inside its predictive 90% interval (the calibration's
    count, inconclusive measurements included); None without a predicted and a realized interval."""
    if not predicted.has_interval or realized is None or not realized.has_interval:
        return None
    low, high = predictive_interval(predicted, realized)
    return low <= realized.point <= high


def judge(predicted: Estimate, realized: Estimate | None, matured: bool) -> Verdict | None:
    """The verdict of one change; None when there is nothing to judge (no prediction with an
    interval, or a matured window without a measurement)."""
    if not predicted.has_interval:
        return None
    if not matured:
        return Verdict.PENDING
    if realized is None or not realized.has_interval:
        return None
    if not is_conclusive(predicted, realized):
        return Verdict.INCONCLUSIVE
    low, high = predictive_interval(predicted, realized)
    if realized.point < low:
        return Verdict.WORSE
    if realized.point > high:
        return Verdict.BETTER
    return Verdict.AS_PREDICTED


def counterfactual_change(
    observed_daily: np.ndarray, forecast: float, forecast_low: float, forecast_high: float
) -> Estimate | None:
    """Relative change of the mean observed daily revenue over the curve's forecast at the old budget.

    ``forecast_low``/``forecast_high`` are the posterior 90% interval of that forecast. On the log
    scale the two uncertainties add: the forecast's (its interval's half-width over z) and the
    observed mean's (the days' standard deviation over sqrt(days), relative to the mean), with a
    Student t multiplier because the days' spread is itself estimated. None
    without at least two days or without positive revenue on both sides.
    """
    observed = np.asarray(observed_daily, dtype=float)
    observed = observed[np.isfinite(observed)]
    if len(observed) < 2 or not all(_finite(v) and v > 0 for v in (forecast, forecast_low, forecast_high)):
        return None
    mean = float(observed.mean())
    if mean <= 0:
        return None
    days = len(observed)
    observed_var = (float(observed.std(ddof=1)) / mean) ** 2 / days
    forecast_var = ((math.log(forecast_high) - math.log(forecast_low)) / (2 * Z)) ** 2
    log_ratio = math.log(mean / forecast)
    # the days' spread is estimated from a week: Student t on Welch-Satterthwaite degrees of freedom
    # (the forecast's variance is known), else a week's interval covers ~85% instead of 90%
    freedom = (
        (observed_var + forecast_var) ** 2 / (observed_var**2 / (days - 1)) if observed_var > 0 else math.inf
    )
    spread = float(stats.t.ppf(0.5 + LEVEL / 2, freedom)) * math.sqrt(observed_var + forecast_var)
    return Estimate(math.expm1(log_ratio), math.expm1(log_ratio - spread), math.expm1(log_ratio + spread))


@dataclass(frozen=True)
class ArmSums:
    """Per-contact sums of one arm: ``y`` the metric's numerator, ``x`` its denominator."""

    n: float
    sum_y: float
    sum_yy: float
    sum_x: float
    sum_xx: float
    sum_xy: float


def holdback_lift(variant: ArmSums, holdback: ArmSums) -> Estimate | None:
    """Relative lift of the variant over the holdback with its 90% interval.

    The unit is the contact (what was assigned); the metric is the ratio of per-contact sums
    (clicks over delivered, orders over sends, ...), so the delta method of
    ``decision_engine.experiments.inference`` gives its variance. None when an arm is empty
    or carries no information (no events).
    """
    if min(variant.n, holdback.n) < 2:
        return None
    kind = np.array(["ratio"])

    def moments(arm: ArmSums):
        return arm_moments(kind, *(np.array([float(v)]) for v in
                                   (arm.n, arm.sum_y, arm.sum_yy, arm.sum_x, arm.sum_xx, arm.sum_xy)))  # fmt: skip

    comparison = compare_arms(kind, moments(holdback), moments(variant), alpha=1 - LEVEL)
    point = float(comparison.relative_lift[0])
    low, high = float(comparison.relative_ci_lower[0]), float(comparison.relative_ci_upper[0])
    if not all(math.isfinite(v) for v in (point, low, high)):
        return None
    return Estimate(point, low, high)
