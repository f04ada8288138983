"""Per-contact content affinity: which content angle each contact engages with.

Reads delivered sends of ``marts.fct_email_sends`` and each message's angle from
``marts.dim_message_content``, or, for a campaign whose content Loopwise chose per recipient, the
angle each recipient was shown (``results.content_assignments``); sends of untagged messages, and
of angles outside ``ContentAffinitySettings.angles``, are left out. Two signals per send, each a rate per
delivered send: the click (primary) and the human open (machine opens never count; a click counts
as an open). Sends are weighed by recency (``0.5 ** (age_days / half_life_days)``; a contact's
weights keep their ratios but sum to its sends, as in send time).

Each signal has two levels of empirical-Bayes shrinkage
(``decision_engine.personalization.shrinkage``):

1. **Account.** Each angle's rate over all contacts, as a factor of the overall rate: the angle mix
   everyone is shrunk towards.
2. **Contact.** The contact's level (its rate per unit of angle-adjusted exposure) is shrunk
   towards the account's rate; each angle's rate towards level x the angle's account factor, with a
   beta-binomial prior whose strength is fitted from the data. A contact with a few sends of an
   angle stays near what its level and the account predict; only repeated engagement moves it.

The engagement score of an angle is ``open_weight`` x open rate + (1 - ``open_weight``) x click
rate: a click counts 1, an open without a click ``open_weight`` (0.5 by default: in the sandbox a
taste moves opens and clicks alike, and the likelihood ratio of an open without a click is about
half a click's). Opens and clicks are modelled separately because a mixed 0 / 0.5 / 1 outcome is
not binomial and hides the spread between contacts from the beta-binomial fit. The preferred angle
is the highest posterior score; ``probability_best`` is the posterior probability that an angle
has the contact's highest score (each score normal with its posterior mean and sd; Gauss-Hermite
quadrature).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from decision_engine.personalization.data_date import end_of, newest_send_day
from decision_engine.personalization.shrinkage import beta_posterior, fit_prior_strength
from decision_engine.store import write_results

TABLE = "content_affinity"
CONTENT_ANGLES = ("case_study", "how_to", "comparison", "promotion")
Source = Literal["contact", "account"]


@dataclass(frozen=True)
class ContentAffinitySettings:
    angles: tuple[str, ...] = CONTENT_ANGLES  # the angles a next send can choose between
    half_life_days: float = 30.0  # recency weighting of sends
    lookback_days: int = 365  # sends older than this are not read
    open_weight: float = 0.5  # engagement of a human open without a click (a click is 1)
    min_personal_engagements: int = 3  # fewer engaged sends: source "account"
    # the angle prior is worth at most this many sends (see shrink_rates)
    max_angle_prior_sends: float = 30.0
    fit_sample_contacts: int = 50_000  # contacts the prior strengths are fitted on
    seed: int = 0


@dataclass
class AngleEngagement:
    """Per contact (rows) and angle (columns): recency-weighted sends and engagement, raw counts."""

    contact_id: np.ndarray
    angles: tuple[str, ...]
    exposure: np.ndarray  # float64 [contacts, angles], recency-weighted sends
    opened: np.ndarray  # float64 [contacts, angles], recency-weighted human opens (or clicks)
    clicked: np.ndarray  # float64 [contacts, angles], recency-weighted clicks
    n_sends: np.ndarray  # int64 [contacts, angles]
    n_opens: np.ndarray  # human opens
    n_clicks: np.ndarray
    n_engaged: np.ndarray  # int64 [contacts]: sends with a human open or a click


@dataclass
class ShrunkRates:
    """One signal (opens or clicks) per contact and angle, shrunk to the contact and the account."""

    alpha: np.ndarray  # [contacts, angles] Beta posterior parameters
    beta: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    prior_mean: np.ndarray  # [contacts, angles] what the contact's level and the account predict
    account_rate: np.ndarray  # [angles]
    level_strength: float
    angle_strength: float


@dataclass
class ContentAffinity:
    scores: np.ndarray  # [contacts, angles] posterior mean engagement per send
    scores_sd: np.ndarray
    prior_scores: np.ndarray  # [contacts, angles] the score the prior alone gives
    probability_best: np.ndarray  # [contacts, angles]
    preferred: np.ndarray  # [contacts] angle index
    source: np.ndarray  # [contacts] "contact" | "account"
    account_scores: np.ndarray  # [angles] the account's engagement per send of each angle
    opens: ShrunkRates
    clicks: ShrunkRates


@dataclass
class ContentAffinityRun:
    rows: int
    contacts: int
    analysis_date: date | None
    params: dict[str, Any] = field(default_factory=dict)
    preferred: dict[str, int] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        if not self.contacts:
            return "Content affinity: no delivered sends of tagged messages to learn from yet."
        mix = ", ".join(f"{angle} {count}" for angle, count in sorted(self.preferred.items()))
        return f"Content affinity: {self.contacts} contacts profiled; preferred angle: {mix}."


_ANGLE_SQL = """
with
content as (
    select message_id, angle
    from marts.dim_message_content
),
{chosen_cte}
sends as (
    select
        sends.contact_id,
        {angle} as angle,
        sends.is_human_opened,
        sends.is_clicked,
        exp(-$decay * date_diff('second', sends.sent_at::timestamp, $as_of) / 86400.0) as weight
    from marts.fct_email_sends as sends
    left join content
        on sends.message_id = content.message_id
    {chosen_join}
    where sends.is_delivered
        and sends.contact_id is not null
        and sends.sent_at::timestamp < $as_of
        and sends.sent_at::timestamp >= $as_of - to_days($lookback)
        and {angle} in (select unnest($angles::varchar[]))
)
select
    contact_id,
    list_position($angles::varchar[], angle) - 1 as angle_index,
    sum(weight) as exposure,
    sum(weight) filter (where is_human_opened or is_clicked) as opened,
    sum(weight) filter (where is_clicked) as clicked,
    count(*) as n_sends,
    count(*) filter (where is_human_opened) as n_opens,
    count(*) filter (where is_clicked) as n_clicks,
    count(*) filter (where is_human_opened or is_clicked) as n_engaged
from sends
group by contact_id, angle
"""


def load_angle_engagement(con: Any, as_of: datetime, settings: ContentAffinitySettings) -> AngleEngagement:
    """Aggregate the marts in DuckDB to one row per contact and angle, then pivot in numpy."""
    params = {
        "angles": list(settings.angles),
        "as_of": as_of.replace(tzinfo=None),
        "lookback": settings.lookback_days,
        "decay": float(np.log(2) / settings.half_life_days),
    }
    from decision_engine.personalization.content_choice import assigned_send_angles_sql

    # a campaign whose content Loopwise chose per recipient: each send at the angle it showed
    chosen = assigned_send_angles_sql(con)
    parts = (
        {
            "chosen_cte": f"chosen as ({chosen}),",
            "chosen_join": "left join chosen on sends.contact_id = chosen.contact_id "
            "and sends.campaign_id = chosen.send_campaign_id",
            "angle": "coalesce(chosen.angle, content.angle)",
        }
        if chosen
        else {"chosen_cte": "", "chosen_join": "", "angle": "content.angle"}
    )
    sql = _ANGLE_SQL
    for name, text in parts.items():
        sql = sql.replace("{" + name + "}", text)
    data = con.execute(sql, params).fetchnumpy()
    contact_id, row = np.unique(np.asarray(data["contact_id"], dtype=object), return_inverse=True)
    column = np.asarray(data["angle_index"], dtype=np.int64)
    shape = (len(contact_id), len(settings.angles))

    def grid(name: str, dtype: type) -> np.ndarray:
        out = np.zeros(shape, dtype=dtype)
        out[row, column] = np.nan_to_num(np.asarray(data[name], dtype=dtype))
        return out

    exposure = grid("exposure", np.float64)
    n_sends = grid("n_sends", np.int64)
    # weights keep their ratios but sum to the contact's sends: recency moves the evidence in time
    # without pretending a contact with many old sends has seen fewer
    scale = n_sends.sum(axis=1) / np.maximum(exposure.sum(axis=1), 1e-12)
    return AngleEngagement(
        contact_id=contact_id,
        angles=tuple(settings.angles),
        exposure=exposure * scale[:, None],
        opened=grid("opened", np.float64) * scale[:, None],
        clicked=grid("clicked", np.float64) * scale[:, None],
        n_sends=n_sends,
        n_opens=grid("n_opens", np.int64),
        n_clicks=grid("n_clicks", np.int64),
        n_engaged=grid("n_engaged", np.int64).sum(axis=1),
    )


def _even_sample(n: int, at_most: int) -> np.ndarray:
    if n <= at_most:
        return np.arange(n)
    return np.linspace(0, n - 1, at_most).astype(np.int64)


def shrink_rates(
    successes: np.ndarray, exposure: np.ndarray, fit_rows: np.ndarray, max_angle_strength: float
) -> ShrunkRates:
    """Per contact and angle: the rate shrunk towards the contact's level x the account's angle
    factor, the level towards the account's rate; prior strengths fitted on ``fit_rows``.

    The angle strength is capped at ``max_angle_strength`` sends. On the demo world, with a
    half-life of 60 days or more, the marginal likelihood finds no spread between a contact's angles at
    all (strength at its maximum) although the raw open rates pick the planted angle 41% of the
    time: every contact then gets the account's best angle with false certainty (25% right at a
    mean certainty of 0.91-0.92). Capped at 30 sends it is 42% right at a mean certainty of 0.45
    (benchmarks/results/content_affinity_sandbox_eval.md). Why the fit misses the taste there is
    not established (per-send differences such as the send hour against the contact's own hour
    make counts less dispersed than a binomial; planted data with such differences alone did not
    reproduce it); the cap keeps a contact's own evidence in play either way."""
    overall = float(successes.sum() / max(exposure.sum(), 1e-12))
    sends = exposure.sum(axis=0)
    account_rate = np.where(sends > 0, successes.sum(axis=0) / np.maximum(sends, 1e-12), overall)
    factor = account_rate / max(overall, 1e-12)
    expected_exposure = exposure @ factor
    total = successes.sum(axis=1)
    level_mu = np.full(len(total), min(max(overall, 1e-6), 0.99))
    level_strength = fit_prior_strength(total[fit_rows], expected_exposure[fit_rows], level_mu[fit_rows])
    level = beta_posterior(total, expected_exposure, level_mu, level_strength).mean
    mu = np.clip(level[:, None] * factor[None, :], 1e-6, 0.99)
    angle_strength = min(
        fit_prior_strength(successes[fit_rows], exposure[fit_rows], mu[fit_rows]), max_angle_strength
    )
    posterior = beta_posterior(successes, exposure, mu, angle_strength)
    return ShrunkRates(
        alpha=successes + angle_strength * mu,
        beta=np.maximum(exposure - successes, 0.0) + angle_strength * (1 - mu),
        mean=posterior.mean,
        sd=posterior.sd,
        prior_mean=mu,
        account_rate=account_rate,
        level_strength=level_strength,
        angle_strength=angle_strength,
    )


def probability_best(mean: np.ndarray, sd: np.ndarray, nodes: int = 40, chunk: int = 100_000) -> np.ndarray:
    """[contacts, angles]: the probability that each angle's score is the highest, the scores
    independent and each normal with its posterior mean and sd:
    P(k best) = E over x ~ N(mean_k, sd_k) of prod over j != k of Phi((x - mean_j) / sd_j),
    by Gauss-Hermite quadrature (``nodes`` points), renormalised to sum to 1 per contact. A million
    contacts take seconds, where Monte Carlo draws from the Beta posteriors took minutes."""
    from scipy.special import ndtr

    z, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / np.sqrt(2 * np.pi)
    sd = np.maximum(sd, 1e-9)
    contacts, angles = mean.shape
    out = np.zeros((contacts, angles), dtype=np.float64)
    for start in range(0, contacts, chunk):
        m, s = mean[start : start + chunk], sd[start : start + chunk]
        for k in range(angles):
            x = m[:, k, None] + s[:, k, None] * z[None, :]  # [chunk, nodes]
            inner = np.ones_like(x)
            for j in range(angles):
                if j != k:
                    inner *= ndtr((x - m[:, j, None]) / s[:, j, None])
            out[start : start + chunk, k] = inner @ weights
    return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-300)


def fit_affinity(data: AngleEngagement, settings: ContentAffinitySettings) -> ContentAffinity:
    fit_rows = _even_sample(len(data.exposure), settings.fit_sample_contacts)
    cap = settings.max_angle_prior_sends
    opens = shrink_rates(data.opened, data.exposure, fit_rows, cap)
    clicks = shrink_rates(data.clicked, data.exposure, fit_rows, cap)
    w = settings.open_weight
    scores = w * opens.mean + (1 - w) * clicks.mean
    scores_sd = np.sqrt((w * opens.sd) ** 2 + ((1 - w) * clicks.sd) ** 2)
    return ContentAffinity(
        scores=scores,
        scores_sd=scores_sd,
        prior_scores=w * opens.prior_mean + (1 - w) * clicks.prior_mean,
        probability_best=probability_best(scores, scores_sd),
        preferred=scores.argmax(axis=1),
        source=np.where(data.n_engaged >= settings.min_personal_engagements, "contact", "account"),
        account_scores=w * opens.account_rate + (1 - w) * clicks.account_rate,
        opens=opens,
        clicks=clicks,
    )


@dataclass(frozen=True)
class PredictedLift:
    """The preferred angles' relative lift in clicks over a uniformly random angle, with a 90% interval."""

    lift: float
    low: float
    high: float


POSTERIOR_DRAWS = 400
POSTERIOR_CONTACTS = 20_000  # an even sample of about this many contacts is enough for the interval


def posterior_click_lift(
    affinity: ContentAffinity, draws: int = POSTERIOR_DRAWS, seed: int = 20261204
) -> PredictedLift | None:
    """What showing each contact its preferred angle is expected to gain in clicks over the
    randomized control (an angle drawn uniformly): the contacts' posterior click rates at their
    preferred angle over their mean across the angles, summed over contacts, with a 90 % interval
    from joint draws of the Beta posteriors (an even sample of ``POSTERIOR_CONTACTS`` contacts).

    Measured against the sandbox's truth in ``loopwise simulate`` (seed 7101, two campaigns) it
    said +31 % and +35 % where the chosen angles were worth +25 % and +26 %: optimistic by about a
    quarter, since the sandbox moves 30 % of contacts to another taste and the model still weighs
    their older sends. Two-fold cross-fitting, which corrected send time's optimizer's curse
    (``send_time.held_out_lift``), said +7 % and +17 % there: a model fitted on half of a few
    dozen sends per contact chooses much worse than one fitted on all of them. On the synthetic
    worlds of the tests (a fixed taste) the posterior is right with 30 sends per contact and low
    with more (``docs/architecture.md``)."""
    clicks = affinity.clicks
    if not len(clicks.mean):
        return None
    rows = np.arange(len(clicks.mean))
    chosen = affinity.preferred
    point = float(clicks.mean[rows, chosen].sum() / clicks.mean.mean(axis=1).sum() - 1)
    sample = _even_sample(len(rows), POSTERIOR_CONTACTS)
    alpha, beta = clicks.alpha[sample], clicks.beta[sample]
    g = np.random.default_rng(seed)
    at_choice, uniform = np.empty(draws), np.empty(draws)
    for d in range(draws):
        p = g.beta(alpha, beta)
        at_choice[d] = p[np.arange(len(sample)), chosen[sample]].sum()
        uniform[d] = p.mean(axis=1).sum()
    lifts = at_choice / uniform - 1
    # the draws' spread around their own centre, placed on the whole population's point estimate
    low, high = point + np.quantile(lifts, [0.05, 0.95]) - float(np.median(lifts))
    return PredictedLift(point, float(low), float(high))


def affinity_table(
    data: AngleEngagement,
    affinity: ContentAffinity,
    analysis_date: date,
    analyzed_at: datetime,
    settings: ContentAffinitySettings,
    predicted: PredictedLift | None = None,
) -> pa.Table:
    """One row per contact and angle (contact-major).

    The string and constant columns are built once per contact or angle and repeated in Arrow
    (``take``), never as Python lists of a row per cell: at a million contacts a list of four
    million contact ids cost about 900 MB of peak memory
    (benchmarks/results/content_affinity.md)."""
    n, k = data.exposure.shape
    angles = pa.array(list(data.angles), pa.string())
    preferred = affinity.preferred
    rows = np.arange(n)
    each_contact = pa.array(np.repeat(rows, k))  # row of the contact of each cell
    each_angle = pa.array(np.tile(np.arange(k), n))

    def per_cell(values: np.ndarray) -> np.ndarray:
        return np.asarray(values).ravel()

    def per_contact(values: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(values), k)

    def strings_per_contact(values: np.ndarray) -> pa.Array:
        return pa.array(np.asarray(values).tolist(), pa.string()).take(each_contact)

    return pa.table(
        {
            "analysis_timestamp": pa.repeat(pa.scalar(analyzed_at, pa.timestamp("us", tz="UTC")), n * k),
            "analysis_date": pa.repeat(pa.scalar(analysis_date, pa.date32()), n * k),
            "contact_id": strings_per_contact(data.contact_id),
            "angle": angles.take(each_angle),
            "n_sends": pa.array(per_cell(data.n_sends)),
            "n_human_opens": pa.array(per_cell(data.n_opens)),
            "n_clicks": pa.array(per_cell(data.n_clicks)),
            "weighted_sends": pa.array(np.round(per_cell(data.exposure), 4)),
            "engagement_score": pa.array(per_cell(affinity.scores)),
            "engagement_score_sd": pa.array(per_cell(affinity.scores_sd)),
            "human_open_rate": pa.array(per_cell(affinity.opens.mean)),
            "click_rate": pa.array(per_cell(affinity.clicks.mean)),
            "account_engagement_score": pa.array(np.tile(affinity.account_scores, n)),
            "probability_best": pa.array(per_cell(affinity.probability_best)),
            "is_preferred": pa.array(per_cell(preferred[:, None] == np.arange(k)[None, :])),
            "preferred_angle": angles.take(pa.array(per_contact(preferred))),
            "preferred_probability": pa.array(per_contact(affinity.probability_best[rows, preferred])),
            "source": strings_per_contact(affinity.source),
            "half_life_days": pa.array(np.full(n * k, settings.half_life_days)),
            "predicted_lift": pa.array(np.full(n * k, predicted.lift if predicted else None), pa.float64()),
            "predicted_lift_low": pa.array(
                np.full(n * k, predicted.low if predicted else None), pa.float64()
            ),
            "predicted_lift_high": pa.array(
                np.full(n * k, predicted.high if predicted else None), pa.float64()
            ),
        }
    )


def run_content_affinity(con: Any, settings: ContentAffinitySettings, now: datetime) -> ContentAffinityRun:
    """Profile every contact with a delivered send of a tagged message up to the newest send in the
    marts; write ``results.content_affinity`` (a re-run for the same analysis date replaces it).
    Nothing to do before the marts have content tags (``marts.dim_message_content``)."""
    (tagged,) = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'dim_message_content'"
    ).fetchone()
    if not tagged:
        return ContentAffinityRun(rows=0, contacts=0, analysis_date=None)
    analysis_date = newest_send_day(con)
    if analysis_date is None:
        return ContentAffinityRun(rows=0, contacts=0, analysis_date=None)
    data = load_angle_engagement(con, end_of(analysis_date), settings)
    if not len(data.contact_id):
        return ContentAffinityRun(rows=0, contacts=0, analysis_date=analysis_date)
    affinity = fit_affinity(data, settings)
    predicted = posterior_click_lift(affinity)
    table = affinity_table(data, affinity, analysis_date, now, settings, predicted)
    write_results(con, TABLE, table, replace_where=("analysis_date",))
    values, counts = np.unique(np.array(data.angles)[affinity.preferred], return_counts=True)
    params = {
        "half_life_days": settings.half_life_days,
        "open_weight": settings.open_weight,
        "account_engagement_score": {
            a: round(float(f), 5) for a, f in zip(data.angles, affinity.account_scores, strict=True)
        },
        "prior_strength": {
            signal: {"level": round(rates.level_strength, 3), "angle": round(rates.angle_strength, 3)}
            for signal, rates in (("opens", affinity.opens), ("clicks", affinity.clicks))
        },
        "contacts_from_own_engagement": int((affinity.source == "contact").sum()),
        "predicted_click_lift": None
        if predicted is None
        else {
            "lift": round(predicted.lift, 4),
            "low": round(predicted.low, 4),
            "high": round(predicted.high, 4),
        },
    }
    return ContentAffinityRun(
        rows=table.num_rows,
        contacts=len(data.contact_id),
        analysis_date=analysis_date,
        params=params,
        preferred={str(v): int(c) for v, c in zip(values, counts, strict=True)},
    )
