"""Budgets where the platforms keep them: per Meta ad set or CBO campaign, per Google campaign budget.

Nobody can set an ad's budget. Meta budgets live on the ad set (or on the campaign under
campaign budget optimisation), Google budgets on the campaign budget, which several campaigns
may share explicitly. The curves are still fitted per ad (that is where the evidence is), and
an entity's response is the sum of its ads' curves:

    revenue_e(B) = sum over ads i of e: revenue_i(share_i * B)

where ``share_i`` is ad i's share of the entity's spend over the last 7 days. The platform
distributes an entity's budget among its ads; we assume it keeps the recent split. The sum of
concave curves is concave, so the same water-filling, exploration and regression guard run on
entity budgets (:class:`EntityResponse` and :class:`EntityDraws` stand in for the per-ad model
and draws). An ad without a known entity is its own unit (the per-ad behaviour, except that a
new ad without spend gets no exploration budget here: entities' budgets are not squeezed for it).

An entity's current budget is what the vendor says (``marts.dim_budget_entities.daily_budget``,
or a CSV's ``daily_budget`` column), not its spend: spend can run above budget (Meta up to +25%
on a day). Without a stated budget it is the sum of its ads' current daily spend.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from decision_engine.budget.allocate import Guardrails, frozen_mask
from decision_engine.budget.inputs import ENTITY_COLUMNS, AdHistory, BudgetInputError
from decision_engine.budget.model import CurveDraws, ResponseModel
from decision_engine.budget.optimizer import resolve_bounds
from decision_engine.budget.settings import BudgetSettings

ENTITY_KEY = ["platform", *ENTITY_COLUMNS]
# CSV exports name the entity by its id column; the first non-empty one of a row wins
EXPORT_ENTITY_COLUMNS = {"adset_id": "adset", "campaign_budget_id": "campaign_budget"}
BUDGET_COLUMN = "daily_budget"


@dataclass(frozen=True)
class BudgetUnits:
    """What the optimiser moves: budget entities, plus one unit per ad without a known entity.

    ``table`` has one row per unit: ``platform, budget_entity_type, budget_entity_id`` (null for
    an ad of its own), ``budget_entity_name, currency, explicitly_shared, rate_to_base,
    current_budget`` (base currency), ``has_stated_budget``, ``is_entity``, ``ad_id`` (the ad of
    a unit of its own) and ``ads`` (count). ``owner`` maps each ad to its unit; ``share`` is each
    ad's share of its unit's spend over the last 7 days (``ad_spend``, base currency).
    """

    table: pd.DataFrame
    owner: np.ndarray
    share: np.ndarray
    ad_spend: np.ndarray

    @property
    def membership(self) -> np.ndarray:
        """(units, ads) 0/1 matrix: sums per-ad values up to their unit."""
        matrix = np.zeros((len(self.table), len(self.owner)))
        matrix[self.owner, np.arange(len(self.owner))] = 1.0
        return matrix

    @property
    def recent_spend(self) -> np.ndarray:
        """Each unit's current daily spend: the sum of its ads' 7-day means."""
        return np.bincount(self.owner, self.ad_spend, len(self.table))


def has_entities(history: AdHistory) -> bool:
    """Whether any ad names its budget entity (then budgets are recommended per entity)."""
    ads = history.ads
    return "budget_entity_id" in ads.columns and bool(ads["budget_entity_id"].notna().any())


def entity_columns_from_export(frame: pd.DataFrame) -> pd.DataFrame:
    """``budget_entity_type``/``budget_entity_id`` from a CSV's ``adset_id`` or ``campaign_budget_id``.

    A file that already has ``budget_entity_id``, or has neither column, is returned unchanged.
    """
    by_name = {str(column).strip().lower(): column for column in frame.columns}
    present = [name for name in EXPORT_ENTITY_COLUMNS if name in by_name]
    if "budget_entity_id" in by_name or not present:
        return frame
    kind = pd.Series(pd.NA, index=frame.index, dtype="string")
    ident = pd.Series(pd.NA, index=frame.index, dtype="string")
    for name in present:
        values = frame[by_name[name]].astype("string").str.strip().replace("", pd.NA)
        take = ident.isna() & values.notna()
        kind[take] = EXPORT_ENTITY_COLUMNS[name]
        ident[take] = values[take]
    return frame.assign(budget_entity_type=kind, budget_entity_id=ident)


def budgets_from_export(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Stated budgets from a CSV's ``daily_budget`` column: each entity's value on its latest day.

    Needs the entity columns (:func:`entity_columns_from_export`); ``None`` without a budget column.
    Two different budgets for one entity on the same day are an error (which one holds is unknown).
    """
    by_name = {str(column).strip().lower(): column for column in frame.columns}
    needed = (BUDGET_COLUMN, "platform", "date")  # a missing platform or date is the engine's to report
    if any(name not in by_name for name in needed) or "budget_entity_id" not in frame.columns:
        return None
    data = pd.DataFrame(
        {
            "platform": frame[by_name["platform"]].astype("string").str.strip(),
            "budget_entity_type": frame["budget_entity_type"],
            "budget_entity_id": frame["budget_entity_id"],
            "date": pd.to_datetime(frame[by_name["date"]], errors="coerce", format="mixed", utc=True),
            "daily_budget": pd.to_numeric(frame[by_name[BUDGET_COLUMN]], errors="coerce"),
        }
    ).dropna()
    if ((data["daily_budget"] < 0) | ~np.isfinite(data["daily_budget"])).any():
        raise BudgetInputError("daily_budget must be a non-negative number")
    latest = data[data["date"] == data.groupby(ENTITY_KEY)["date"].transform("max")]
    spread = latest.groupby(ENTITY_KEY)["daily_budget"].nunique()
    if (spread > 1).any():
        platform, kind, ident = spread[spread > 1].index[0]
        raise BudgetInputError(
            f"{kind} {ident} ({platform}) has different daily_budget values on its latest day; give one per entity and day"
        )
    return latest.drop_duplicates(ENTITY_KEY)[[*ENTITY_KEY, "daily_budget"]].reset_index(drop=True)


def _stated_budgets(units: pd.DataFrame, budgets: pd.DataFrame | None, issues: list[str]) -> pd.DataFrame:
    """Join the vendor's budget, name, currency and sharing onto the entity units."""
    columns = ["budget_entity_name", "daily_budget", "stated_currency", "explicitly_shared"]
    if budgets is None or budgets.empty:
        return units.assign(**{column: pd.NA for column in columns})
    stated = budgets.rename(columns={"currency": "stated_currency"}).copy()
    for column in ENTITY_KEY:
        stated[column] = stated[column].astype("string").str.strip()
    for column in columns:
        if column not in stated.columns:
            stated[column] = pd.NA
    stated = stated.dropna(subset=ENTITY_KEY).drop_duplicates(ENTITY_KEY, keep="last")[
        [*ENTITY_KEY, *columns]
    ]
    keys = units[ENTITY_KEY].astype("string")
    merged = units.assign(**keys).merge(stated, on=ENTITY_KEY, how="left")
    missing = merged["is_entity"] & pd.to_numeric(merged["daily_budget"], errors="coerce").isna()
    if missing.any():
        issues.append(
            f"{int(missing.sum())} budget entit{'y has' if missing.sum() == 1 else 'ies have'} no stated daily budget; "
            "their current budget is taken as the sum of their ads' current daily spend"
        )
    return merged


def _unit_codes(ads: pd.DataFrame, known: pd.Series) -> np.ndarray:
    """Unit index per ad: one per (platform, entity type, entity id), one per ad without an entity."""
    text = ads[["platform", *ENTITY_COLUMNS, "ad_id"]].astype("string").fillna("")
    entity = text["platform"] + "\x1f" + text["budget_entity_type"] + "\x1f" + text["budget_entity_id"]
    own = "\x1e" + text["platform"] + "\x1f" + text["ad_id"]
    codes, _ = pd.factorize(pd.Series(np.where(known, entity, own)), sort=True)
    return codes.astype(int)


def _shares(codes: np.ndarray, spend: np.ndarray, n_units: int) -> np.ndarray:
    """Each ad's share of its unit's recent spend; an even split in a unit that spent nothing."""
    unit_spend = np.bincount(codes, spend, n_units)[codes]
    count = np.bincount(codes, minlength=n_units)[codes]
    return np.where(unit_spend > 0, spend / np.where(unit_spend > 0, unit_spend, 1.0), 1.0 / count)


def build_units(history: AdHistory, budgets: pd.DataFrame | None = None) -> tuple[BudgetUnits, list[str]]:
    """Group the ads of ``history`` into budget units; returns the units and what to tell the user."""
    ads = history.ads.reset_index(drop=True)
    issues: list[str] = []
    known = ads["budget_entity_id"].notna() & ads["budget_entity_type"].notna()
    if (~known).any():
        issues.append(
            f"{int((~known).sum())} ad(s) have no known budget entity (ad set, campaign or campaign budget): "
            "they are recommended per ad, as before"
        )
    codes = _unit_codes(ads, known)
    n_units = int(codes.max()) + 1
    first = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    spend = ads["current_daily_spend"].to_numpy(float)
    is_entity = known.to_numpy(bool)[first]
    table = pd.DataFrame(
        {
            "platform": ads["platform"].astype(str).to_numpy()[first],
            "budget_entity_type": ads["budget_entity_type"].where(known).to_numpy()[first],
            "budget_entity_id": ads["budget_entity_id"].where(known).to_numpy()[first],
            "is_entity": is_entity,
            "ad_id": np.where(is_entity, None, ads["ad_id"].astype(str).to_numpy()[first]),
            "currency": ads["currency"].astype(str).to_numpy()[first],
            "rate_to_base": ads["rate_to_base"].to_numpy(float)[first],
            "ads": np.bincount(codes, minlength=n_units),
        }
    )
    table = _stated_budgets(table, budgets, issues)
    stated = pd.to_numeric(table["daily_budget"], errors="coerce").to_numpy(float)
    table["has_stated_budget"] = is_entity & np.isfinite(stated)
    recent = np.bincount(codes, spend, n_units)
    table["current_budget"] = np.where(table["has_stated_budget"], stated * table["rate_to_base"], recent)
    table["explicitly_shared"] = table["explicitly_shared"].fillna(False).astype(bool)
    table["currency"] = table["stated_currency"].fillna(table["currency"]).astype(str)
    table = table.drop(columns=["daily_budget", "stated_currency"])
    return BudgetUnits(table=table, owner=codes, share=_shares(codes, spend, n_units), ad_spend=spend), issues


class EntityResponse:
    """Each unit's posterior mean response: the sum of its ads' curves at their share of its budget."""

    def __init__(self, model: ResponseModel, units: BudgetUnits):
        self.model = model
        self.units = units
        self.matrix = units.membership
        current = units.table["current_budget"].to_numpy(float)
        fallback = self.matrix @ model.reference_spend
        self.reference_spend = np.where(current > 0, current, fallback)

    def ad_spend(self, budget: np.ndarray) -> np.ndarray:
        """Each ad's expected spend when its unit gets ``budget`` (shape (units,) or (units, G))."""
        budget = np.asarray(budget, dtype=float)
        share = self.units.share if budget.ndim == 1 else self.units.share[:, None]
        return share * budget[self.units.owner]

    def expected_revenue(self, budget: np.ndarray) -> np.ndarray:
        return self.matrix @ self.model.expected_revenue(self.ad_spend(budget))

    def marginal_revenue(self, budget: np.ndarray) -> np.ndarray:
        budget = np.asarray(budget, dtype=float)
        share = self.units.share if budget.ndim == 1 else self.units.share[:, None]
        return self.matrix @ (share * self.model.marginal_revenue(self.ad_spend(budget)))


@dataclass(frozen=True)
class EntityDraws:
    """Posterior draws of each unit's response, from the per-ad draws (``ads``)."""

    ads: CurveDraws
    response: EntityResponse

    def revenue(self, budget: np.ndarray) -> np.ndarray:
        return self.ads.revenue(self.response.ad_spend(budget)) @ self.response.matrix.T

    def marginal(self, budget: np.ndarray) -> np.ndarray:
        per_ad = self.ads.marginal(self.response.ad_spend(budget)) * self.response.units.share
        return per_ad @ self.response.matrix.T

    def revenue_grid(self, draw: int, grid: np.ndarray) -> np.ndarray:
        return self.response.matrix @ self.ads.revenue_grid(draw, self.response.ad_spend(grid))

    def without_first(self) -> EntityDraws:
        return EntityDraws(self.ads.without_first(), self.response)


def entity_guardrails(
    units: BudgetUnits,
    ads_approved: np.ndarray,
    settings: BudgetSettings,
    frozen: Collection[str] = (),
) -> Guardrails:
    """Per-unit bounds: the max-change band around the current budget, the min/max budget, frozen units
    (and explicitly shared budgets unless ``settings.allow_shared_budgets``).

    A unit moves only when every ad in it is approved. A unit whose ads spent nothing in the last
    7 days (nothing to learn its split or response from) keeps its budget.
    """
    table = units.table
    current = table["current_budget"].to_numpy(float)
    ids = table.assign(unit_id=table["budget_entity_id"].fillna(table["ad_id"]))
    shared_refused = table["explicitly_shared"].to_numpy(bool) & (not settings.allow_shared_budgets)
    is_frozen = frozen_mask(ids, "unit_id", frozen) | shared_refused
    unapproved = np.bincount(units.owner, ~ads_approved, len(table)) > 0
    approved = ~unapproved & ~is_frozen
    idle = units.recent_spend <= 0
    movable = approved & ~idle & (current > 0)
    rate = table["rate_to_base"].to_numpy(float)
    bounds = resolve_bounds(
        current,
        movable,
        settings.max_change,
        settings.min_daily_budget * rate,
        settings.max_daily_budget * rate,
    )
    total = (
        float(current.sum()) if settings.total_daily_budget is None else float(settings.total_daily_budget)
    )
    return Guardrails(
        current=current,
        approved=approved,
        frozen=is_frozen,
        cold=idle,
        movable=movable,
        bounds=bounds,
        cold_budget=np.zeros(len(table)),
        lower=bounds.lower,
        upper=bounds.upper,
        total=total,
    )
