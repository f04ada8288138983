"""Per-contact send time: when each contact tends to engage, by local hour of day.

Reads ``marts.fct_email_sends`` (delivered sends; engagement = a human open or a click, so
Apple Mail Privacy Protection's machine opens never count) and each contact's time zone from
``marts.dim_contacts``. Open *timestamps* are not used: when someone opens says more about when
we sent than about when they like to read, so the signal is the engagement rate of sends that
*arrived* at each local hour.

The model has three levels, each shrunk towards the one above (empirical Bayes):

1. **Account.** A weekday factor (engagement by local weekday over all sends) turns each send
   into weekday-adjusted exposure, so a contact mostly mailed on Saturdays does not look like a
   poor responder at those hours. The account's best local hour is the cold-start choice.
2. **Timing segment.** Contacts fall into ``segments`` timing segments (morning, midday,
   evening readers, ...), each a smooth curve over the 24 local hours. Curves and memberships
   are fitted by EM over everyone; a contact's membership comes from where its engagements fell
   relative to where its sends went (its own base rate factored out). Because time zones see
   different local hours, the curves are identified over the whole day even when each contact
   saw only a few hours.
3. **Contact.** The contact's own engagement rate at each hour (recency-weighted, smoothed
   over neighbouring hours) is shrunk towards its level times its segment curve, with a
   beta-binomial prior whose strength is fitted from the data
   (``decision_engine.personalization.shrinkage``).

Hour of day with a weekday factor, not hour of week: a contact receives a few campaigns a
week, so 168 hour-of-week cells would almost all be empty; hour of day x weekday factor is what
the data can support (vendors that use hour of week pool over a year of sends).

Recency: each send weighs ``0.5 ** (age_days / half_life_days)``, so after a habit changes
the recent sends dominate within about one half-life.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from decision_engine.personalization.data_date import end_of, newest_send_day
from decision_engine.personalization.hourly_engagement import HOURS, HourlyEngagement, load_hourly_engagement
from decision_engine.personalization.shrinkage import beta_posterior, fit_prior_strength
from decision_engine.store import write_results

TABLE = "send_time_profiles"
Source = Literal["contact", "segment", "account"]


@dataclass(frozen=True)
class SendTimeSettings:
    half_life_days: float = 30.0  # recency weighting of sends
    lookback_days: int = 365  # sends older than this are not read
    smoothing_hours: float = 1.0  # Gaussian kernel sd over neighbouring local hours
    min_personal_engagements: int = 3  # fewer: the segment's best hour
    em_iterations: int = 60
    fit_sample_contacts: int = 50_000  # engaged contacts the account-level curve is fitted on
    parametric_curve: bool = True  # the curve around the peak is one smooth bump (else free-form)
    account_time_zone: str | None = None  # contacts without one; None: the most common contact time zone


@dataclass
class TimingSegments:
    shapes: np.ndarray  # [segments, 24], mean 1 per segment
    weights: np.ndarray  # [segments]
    membership: np.ndarray  # [contacts, segments]
    iterations: int = 0


@dataclass
class SendTimeProfiles:
    chosen_local_hour: np.ndarray
    source: np.ndarray
    scores: np.ndarray  # [contacts, 24] posterior mean engagement probability per send
    scores_sd: np.ndarray
    segment: np.ndarray
    segment_probability: np.ndarray
    account_best_hour: int
    level_strength: float
    hour_strength: float
    segments: TimingSegments


@dataclass
class SendTimeRun:
    rows: int
    analysis_date: date | None
    params: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        if not self.rows:
            return "Send time: no delivered email sends to learn from yet."
        personal = self.sources.get("contact", 0)
        return (
            f"Send time: {self.rows} contacts profiled ({personal} from their own engagement, "
            f"{self.sources.get('segment', 0)} from their timing segment, {self.sources.get('account', 0)} "
            f"at the account's best local hour {self.params.get('account_best_hour')}:00)."
        )


def circular_smooth(values: np.ndarray, sd_hours: float) -> np.ndarray:
    """Gaussian kernel over neighbouring hours, wrapping midnight (last axis = 24 hours)."""
    if sd_hours <= 0:
        return values
    offsets = np.arange(-3, 4) if sd_hours <= 1.5 else np.arange(-6, 7)
    kernel = np.exp(-(offsets**2) / (2 * sd_hours**2))
    return sum(w * np.roll(values, int(k), axis=-1) for k, w in zip(offsets, kernel, strict=True))


def _rotations(curve: np.ndarray) -> np.ndarray:
    """[24, 24]: row k is ``curve`` (peaking at hour 0) moved to peak at hour k."""
    return np.stack([np.roll(curve, k) for k in range(HOURS)])


def _aligned_sum(per_segment: np.ndarray) -> np.ndarray:
    """Sum rows [segment k, hour h] at their offset h - k from the segment's peak hour."""
    return sum(np.roll(per_segment[k], -k) for k in range(HOURS))


def _aligned_weights(denominator: np.ndarray) -> np.ndarray:
    return np.maximum(denominator, 0.0)


def _bump_fit(curve: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The closest curve of the form c0 + c1 exp(-d^2 / (2 width^2)) (d: circular hours from the
    peak; c1 >= 0), width from a grid, by weighted least squares: one smooth bump around the peak."""
    hours = np.arange(HOURS)
    distance = np.minimum(hours, HOURS - hours)
    best, best_error = curve, np.inf
    for width in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0):
        bump = np.exp(-(distance**2) / (2 * width**2))
        design = np.column_stack([np.ones(HOURS), bump]) * np.sqrt(weights)[:, None]
        coef, *_ = np.linalg.lstsq(design, curve * np.sqrt(weights), rcond=None)
        coef[1] = max(coef[1], 0.0)
        fitted = coef[0] + coef[1] * bump
        error = float(np.sum(weights * (curve - fitted) ** 2))
        if error < best_error and fitted.min() > 0:
            best, best_error = fitted, error
    return best


def _segment_log_likelihood(engaged: np.ndarray, exposure: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """[contacts, segments]: log probability of where each contact's engagements fell given where
    its sends went, under each segment's curve (the contact's own level factored out): a
    multinomial over hours with probabilities proportional to exposure x curve. The term in
    log(exposure) is the same for every segment and left out."""
    expected_total = np.maximum(exposure @ shapes.T, 1e-12)  # [contacts, segments]
    return engaged @ np.log(shapes).T - engaged.sum(axis=1, keepdims=True) * np.log(expected_total)


def fit_timing_segments(data: HourlyEngagement, settings: SendTimeSettings) -> TimingSegments:
    """EM for the timing segments: one per local hour (the contact's peak hour), all sharing one
    curve shape around the peak; fitted are the shape, the segments' weights (the account's
    distribution of peak hours: the prior each contact is shrunk towards) and each contact's
    membership (its posterior over peak hours)."""
    hours = np.arange(HOURS)
    distance = np.minimum(hours, HOURS - hours)
    curve = 1 + 0.5 * np.cos(2 * np.pi * distance / HOURS)  # a broad initial bump
    curve /= curve.mean()
    weights = np.full(HOURS, 1 / HOURS)
    informative = data.engaged.sum(axis=1) > 0
    # the shared curve and the peak-hour weights are account-level: fitted on at most
    # fit_sample_contacts engaged contacts (an even spread), then every contact's membership
    # comes from one last E-step
    fit_rows = np.flatnonzero(informative)
    if len(fit_rows) > settings.fit_sample_contacts:
        fit_rows = fit_rows[np.linspace(0, len(fit_rows) - 1, settings.fit_sample_contacts).astype(np.int64)]
    engaged, exposure = data.engaged[fit_rows], data.exposure[fit_rows]
    membership_informative = np.full((len(engaged), HOURS), 1 / HOURS)
    iteration = 0
    for iteration in range(1, settings.em_iterations + 1):  # noqa: B007 (reported after the loop)
        shapes = _rotations(curve)
        log_post = np.log(weights)[None, :] + _segment_log_likelihood(engaged, exposure, shapes)
        log_post -= log_post.max(axis=1, keepdims=True)
        membership_informative = np.exp(log_post)
        membership_informative /= membership_informative.sum(axis=1, keepdims=True)
        level = engaged.sum(axis=1, keepdims=True) / np.maximum(exposure @ shapes.T, 1e-12)  # [c, s]
        numerator = _aligned_sum(membership_informative.T @ engaged)
        denominator = _aligned_sum((membership_informative * level).T @ exposure)
        new = circular_smooth(numerator, settings.smoothing_hours) / np.maximum(
            circular_smooth(denominator, settings.smoothing_hours), 1e-12
        )
        new = np.where(np.isfinite(new) & (new > 0), new, 1e-3)
        if settings.parametric_curve:
            new = _bump_fit(new, _aligned_weights(denominator))
        new /= new.mean()
        if len(engaged):
            weights = circular_smooth(membership_informative.mean(axis=0), settings.smoothing_hours)
            weights = np.maximum(weights, 1e-6) / np.maximum(weights, 1e-6).sum()
        # segment k is the contact's peak hour: keep the curve's peak at offset 0 (the fit is
        # otherwise free to label every segment a few hours off)
        shift = int(np.argmax(new))
        new, weights = np.roll(new, -shift), np.roll(weights, shift)
        converged = np.abs(new - curve).max() < 1e-4
        curve = new
        if converged:
            break
    membership = np.tile(weights.astype(np.float32), (len(data.contact_id), 1))
    shapes = _rotations(curve)
    for chunk in np.array_split(np.flatnonzero(informative), max(1, int(informative.sum()) // 200_000 + 1)):
        log_post = np.log(weights)[None, :] + _segment_log_likelihood(
            data.engaged[chunk], data.exposure[chunk], shapes
        )
        log_post -= log_post.max(axis=1, keepdims=True)
        posterior = np.exp(log_post)
        membership[chunk] = posterior / posterior.sum(axis=1, keepdims=True)
    return TimingSegments(
        shapes=_rotations(curve), weights=weights, membership=membership, iterations=iteration
    )


def _even_sample(n: int, at_most: int) -> np.ndarray:
    """Row positions spread evenly over ``n`` rows, at most ``at_most`` of them."""
    if n <= at_most:
        return np.arange(n)
    return np.linspace(0, n - 1, at_most).astype(np.int64)


def build_profiles(data: HourlyEngagement, settings: SendTimeSettings) -> SendTimeProfiles:
    segments = fit_timing_segments(data, settings)
    prior_shape = segments.membership @ segments.shapes  # [contacts, 24], the contact's segment curve
    account_rate = data.engaged.sum() / max(data.exposure.sum(), 1e-12)
    # level: the contact's engagement per unit of segment-shaped exposure, shrunk to the account's
    expected_exposure = (data.exposure * prior_shape).sum(axis=1)
    level_mu = np.full(len(expected_exposure), min(account_rate, 0.99))
    engaged_total = data.engaged.sum(axis=1)
    sample = _even_sample(len(engaged_total), settings.fit_sample_contacts)
    level_strength = fit_prior_strength(engaged_total[sample], expected_exposure[sample], level_mu[sample])
    level = beta_posterior(engaged_total, expected_exposure, level_mu, level_strength).mean
    # hour: the contact's own (smoothed) rate at each hour, shrunk to level x segment curve
    mu = np.clip(level[:, None] * prior_shape, 1e-6, 0.99)
    hour_strength = fit_prior_strength(data.engaged[sample], data.exposure[sample], mu[sample])
    smooth_engaged = circular_smooth(data.engaged, settings.smoothing_hours)
    smooth_exposure = circular_smooth(data.exposure, settings.smoothing_hours)
    posterior = beta_posterior(smooth_engaged, smooth_exposure, mu, hour_strength)
    del smooth_engaged, smooth_exposure, mu, prior_shape

    account_curve = segments.weights @ segments.shapes
    account_best = int(np.argmax(account_curve))
    top_segment = segments.membership.argmax(axis=1)
    segment_best = segments.shapes.argmax(axis=1)
    source = np.where(
        data.n_engaged == 0,
        "account",
        np.where(data.n_engaged < settings.min_personal_engagements, "segment", "contact"),
    )
    chosen = np.where(
        source == "contact",
        posterior.mean.argmax(axis=1),
        np.where(source == "segment", segment_best[top_segment], account_best),
    )
    return SendTimeProfiles(
        chosen_local_hour=chosen.astype(np.int32),
        source=source,
        scores=posterior.mean,
        scores_sd=posterior.sd,
        segment=top_segment.astype(np.int32),
        segment_probability=segments.membership.max(axis=1),
        account_best_hour=account_best,
        level_strength=level_strength,
        hour_strength=hour_strength,
        segments=segments,
    )


@dataclass(frozen=True)
class PredictedLift:
    """The chosen hours' relative lift in engagement over the account's best hour, with a 90% interval."""

    lift: float
    low: float
    high: float


LEVEL_PRIOR_SENDS = 5.0  # a contact's own engagement rate is shrunk to the account's by this many sends
BOOTSTRAP_DRAWS = 1000
HELD_OUT_CONTACTS = 40_000  # about this many contacts, a hash sample, are enough for the prediction


def held_out_lift(
    con: Any, as_of: datetime, settings: SendTimeSettings, best_hour: int, seed: int = 20261204
) -> PredictedLift | None:
    """What personalizing is expected to gain, measured on sends the choice of hour did not see.

    The scores at each contact's chosen hour overstate it: the chosen hour is the highest of 24
    noisy estimates (the optimizer's curse; on the large benchmark world the scores said +50 % where
    the sandbox's truth gave +6 %). So the sends are split in two at random; the model fitted on
    one half chooses each contact's hour, and the other half's engagement at that hour is compared
    with its engagement at the account's best hour, per unit of exposure times the contact's own
    engagement rate in the choosing half (so contacts who happened to get more sends at one of the
    two hours do not tilt the comparison); then the halves swap. On the large and medium benchmark
    worlds it read +5.5 % and +7.2 % against a truth of +6.0 % and +7.5 %; on the demo world's short
    history +13.5 % against +8.0 %, its interval missing the truth
    (benchmarks/results/send_time_prediction.md). The interval resamples contacts; above
    ``HELD_OUT_CONTACTS`` contacts, a hash sample of about that many is read (the large world: 8.7 s,
    22 s for all 158k)."""
    (contacts,) = con.execute("select count(*) from marts.dim_contacts").fetchone()
    modulus = max(1, int(contacts) // HELD_OUT_CONTACTS)
    halves = [
        load_hourly_engagement(con, as_of, settings, fold=(k, 2), contact_modulus=modulus) for k in range(2)
    ]
    if any(len(half.contact_id) == 0 for half in halves):
        return None
    fits = [build_profiles(half, settings) for half in halves]
    positions = [{c: i for i, c in enumerate(half.contact_id)} for half in halves]
    common = [c for c in halves[0].contact_id if c in positions[1]]
    if not common:
        return None
    rows = [np.array([position[c] for c in common], dtype=np.int64) for position in positions]
    everyone = np.arange(len(common))
    # per contact: engagement and expected engagement at the chosen hour, then at the best hour
    parts = np.zeros((len(common), 4))
    for chooser, scorer in ((0, 1), (1, 0)):
        chosen = fits[chooser].chosen_local_hour[rows[chooser]]
        engaged, exposure = halves[chooser].engaged[rows[chooser]], halves[chooser].exposure[rows[chooser]]
        account_rate = engaged.sum() / max(float(exposure.sum()), 1e-12)
        level = (engaged.sum(axis=1) + LEVEL_PRIOR_SENDS * account_rate) / (
            exposure.sum(axis=1) + LEVEL_PRIOR_SENDS
        )
        engaged, exposure = halves[scorer].engaged[rows[scorer]], halves[scorer].exposure[rows[scorer]]
        parts += np.column_stack(
            [
                engaged[everyone, chosen],
                level * exposure[everyone, chosen],
                engaged[:, best_hour],
                level * exposure[:, best_hour],
            ]
        )

    def lift(sums: np.ndarray) -> np.ndarray:
        return (sums[..., 0] / sums[..., 1]) / (sums[..., 2] / sums[..., 3]) - 1

    totals = parts.sum(axis=0)
    if (totals <= 0).any():
        return None
    rng = np.random.default_rng(seed)
    contributions = parts.astype(np.float32)
    draws = []
    for _ in range(BOOTSTRAP_DRAWS // 100):  # Poisson weights, 100 draws at a time
        draws.append(lift(rng.poisson(1.0, size=(100, len(common))).astype(np.float32) @ contributions))
    resampled = np.concatenate(draws)
    resampled = resampled[np.isfinite(resampled)]  # a draw without sends at one of the hours
    if len(resampled) < BOOTSTRAP_DRAWS // 2:
        return None
    low, high = np.quantile(resampled, [0.05, 0.95])
    return PredictedLift(float(lift(totals)), float(low), float(high))


def _hour_vectors(values: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(np.round(values, 5).ravel()), HOURS)


def profiles_table(
    data: HourlyEngagement,
    profiles: SendTimeProfiles,
    analysis_date: date,
    analyzed_at: datetime,
    half_life_days: float,
    predicted: PredictedLift | None = None,
) -> pa.Table:
    n = len(data.contact_id)

    def repeated(value: float | None) -> pa.Array:
        return pa.array([value] * n, pa.float64())

    return pa.table(
        {
            "analysis_timestamp": pa.array([analyzed_at] * n, pa.timestamp("us", tz="UTC")),
            "analysis_date": pa.array([analysis_date] * n, pa.date32()),
            "contact_id": pa.array(data.contact_id.tolist(), pa.string()),
            "time_zone": pa.array(data.time_zone.tolist(), pa.string()),
            "chosen_local_hour": pa.array(profiles.chosen_local_hour),
            "source": pa.array(profiles.source.tolist(), pa.string()),
            "hourly_scores": _hour_vectors(profiles.scores),
            "hourly_scores_sd": _hour_vectors(profiles.scores_sd),
            "chosen_score": pa.array(profiles.scores[np.arange(n), profiles.chosen_local_hour]),
            "timing_segment": pa.array(profiles.segment),
            "timing_segment_probability": pa.array(profiles.segment_probability),
            "n_sends": pa.array(data.n_sends),
            "n_opens": pa.array(data.n_opens),
            "n_clicks": pa.array(data.n_clicks),
            "half_life_days": pa.array(np.full(n, half_life_days)),
            "account_best_local_hour": pa.array(np.full(n, profiles.account_best_hour, dtype=np.int32)),
            "predicted_lift": repeated(predicted.lift if predicted else None),
            "predicted_lift_low": repeated(predicted.low if predicted else None),
            "predicted_lift_high": repeated(predicted.high if predicted else None),
        }
    )


def run_send_time(con: Any, settings: SendTimeSettings, now: datetime) -> SendTimeRun:
    """Profile every contact with a delivered send up to the newest send in the marts; write
    ``results.send_time_profiles`` (a re-run for the same analysis date replaces its rows)."""
    analysis_date = newest_send_day(con)
    if analysis_date is None:
        return SendTimeRun(rows=0, analysis_date=None)
    data = load_hourly_engagement(con, end_of(analysis_date), settings)
    profiles = build_profiles(data, settings)
    predicted = held_out_lift(con, end_of(analysis_date), settings, profiles.account_best_hour)
    table = profiles_table(data, profiles, analysis_date, now, settings.half_life_days, predicted)
    write_results(con, TABLE, table, replace_where=("analysis_date",))
    values, counts = np.unique(profiles.source, return_counts=True)
    params = {
        "half_life_days": settings.half_life_days,
        "peak_hour_weights": [round(float(w), 4) for w in profiles.segments.weights],
        "curve_around_peak": [round(float(v), 3) for v in profiles.segments.shapes[0]],
        "em_iterations": profiles.segments.iterations,
        "level_prior_strength": round(profiles.level_strength, 3),
        "hour_prior_strength": round(profiles.hour_strength, 3),
        "account_best_hour": profiles.account_best_hour,
        "weekday_factor": [round(float(w), 4) for w in data.weekday_factor],
        "predicted_lift": [round(v, 4) for v in (predicted.lift, predicted.low, predicted.high)]
        if predicted
        else None,
    }
    return SendTimeRun(
        rows=len(data.contact_id),
        analysis_date=analysis_date,
        params=params,
        sources={str(v): int(c) for v, c in zip(values, counts, strict=True)},
    )


def params_json(run: SendTimeRun) -> str:
    return json.dumps(run.params, sort_keys=True)
