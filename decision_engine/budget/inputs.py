"""Validate and tidy daily ad history (one row per ad per day) for the budget engine.

Accepts the CLI shape (``date, platform, campaign_id, ad_id, spend, impressions, clicks,
conversions, revenue``) and the mart ``marts.fct_ad_performance_daily`` (``date_day`` and
``conversions_value`` are renamed). Rows flagged ``is_quarantined`` (optional column: the
vendor's record for that ad-day failed validation at ingestion, so its numbers are unknown)
are left out of the curve fit and of current spend, as if that ad-day had not happened, and
counted per ad in ``quarantined_days``. Problems that can be repaired are repaired and listed in
``AdHistory.issues``; problems that cannot raise :class:`BudgetInputError` with a message a
marketer can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("date", "platform", "campaign_id", "ad_id", "spend", "revenue")
OPTIONAL_COUNTS = ("impressions", "clicks", "conversions")
MART_RENAMES = {"date_day": "date", "conversions_value": "revenue"}
CURRENT_WINDOW_DAYS = 7
AD_KEY = ["platform", "ad_id"]
# the budget an ad's spend comes from (optional; see ``entities``): adset/campaign (Meta), campaign_budget (Google)
ENTITY_COLUMNS = ("budget_entity_type", "budget_entity_id")
QUARANTINE_COLUMN = "is_quarantined"
TRUE_WORDS = ["true", "1", "yes", "y", "t"]


class BudgetInputError(ValueError):
    """Input the budget engine cannot use; the message says what to fix."""


@dataclass
class AdHistory:
    """Clean daily rows plus one row per ad.

    ``daily`` has ``ad_index, date, age_days, day_of_week, spend, revenue, conversions`` in
    the base currency; ``ads`` (indexed by ``ad_index``) has ``platform, campaign_id, ad_id,
    ad_group_id, currency, rate_to_base, current_daily_spend`` (base currency), ``days_with_spend``,
    ``quarantined_days``, totals, and ``budget_entity_type, budget_entity_id`` when the input has
    them (the ad's latest known budget entity; null when unknown). ``age_days`` is 0 on the file's last date. ``quarantined``
    lists the quarantined ad-days (``platform, ad_id, date``) that were left out.
    """

    daily: pd.DataFrame
    ads: pd.DataFrame
    last_date: pd.Timestamp
    n_dates: int
    base_currency: str | None
    issues: list[str] = field(default_factory=list)
    quarantined: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["platform", "ad_id", "date"])
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise BudgetInputError("the input has no rows: expected one row per ad per day")
    data = frame.copy()
    data.columns = [str(column).strip().lower() for column in data.columns]
    for old, new in MART_RENAMES.items():
        if old in data.columns and new not in data.columns:
            data = data.rename(columns={old: new})
    missing = [column for column in REQUIRED_COLUMNS if column not in data.columns]
    if missing:
        raise BudgetInputError(
            f"missing column(s) {', '.join(missing)}; expected one row per ad per day with "
            "date, platform, campaign_id, ad_id, spend, impressions, clicks, conversions, revenue"
        )
    return data


def _to_dates(values: pd.Series) -> pd.Series:
    """Calendar days (naive). Dates with a UTC offset are converted to UTC first, so a file mixing
    offsets (``-05:00`` and ``+00:00``) is read on one clock; naive dates are taken as UTC (as written)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        parsed = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        parsed = values.dt.tz_localize("UTC")
    else:
        parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    return parsed.dt.tz_localize(None).dt.normalize()


def _truthy(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool)
    return values.astype("string").str.strip().str.lower().isin(TRUE_WORDS).fillna(False).astype(bool)


def _split_quarantined(data: pd.DataFrame, issues: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows whose vendor record was quarantined at ingestion (unknown numbers, not zero), set apart."""
    keys = pd.DataFrame(columns=["platform", "ad_id", "date"])
    if QUARANTINE_COLUMN not in data.columns:
        return data, keys
    flagged = _truthy(data[QUARANTINE_COLUMN])
    data = data.drop(columns=[QUARANTINE_COLUMN])
    if not flagged.any():
        return data, keys
    keys = data.loc[flagged, ["platform", "ad_id", "date"]].copy()
    keys["date"] = _to_dates(keys["date"])
    for column in AD_KEY:
        keys[column] = keys[column].astype("string").str.strip()
    keys = keys.dropna().drop_duplicates().reset_index(drop=True)
    n_ads = len(keys.drop_duplicates(AD_KEY))
    issues.append(
        f"left out {_plural(len(keys), 'ad-day')} quarantined at the source ({_plural(n_ads, 'ad')}): the vendor's "
        "record failed validation, so those days are excluded from the curves and current spend, not counted as zero"
    )
    return data.loc[~flagged], keys


def _clean_values(data: pd.DataFrame, issues: list[str]) -> pd.DataFrame:
    data["date"] = _to_dates(data["date"])
    for column in ("platform", "campaign_id", "ad_id"):
        data[column] = data[column].astype("string").str.strip()
    bad_key = data["date"].isna() | data[["platform", "campaign_id", "ad_id"]].isna().any(axis=1)
    bad_key |= (data[["platform", "ad_id"]] == "").any(axis=1)
    if bad_key.any():
        issues.append(
            f"dropped {_plural(int(bad_key.sum()), 'row')} with an unreadable date or a missing platform/campaign/ad id"
        )
        data = data.loc[~bad_key]
    for column in ("spend", "revenue", *OPTIONAL_COUNTS):
        if column in data.columns:
            data[column] = pd.to_numeric(data[column], errors="coerce").replace([np.inf, -np.inf], np.nan)
        else:
            data[column] = 0.0
    missing_value = data[["spend", "revenue"]].isna().any(axis=1)
    if missing_value.any():
        issues.append(
            f"dropped {_plural(int(missing_value.sum()), 'row')} with a missing or non-numeric spend or revenue"
        )
        data = data.loc[~missing_value]
    negative_spend = data["spend"] < 0
    if negative_spend.any():
        issues.append(f"dropped {_plural(int(negative_spend.sum()), 'row')} with negative spend")
        data = data.loc[~negative_spend]
    for column in ("revenue", *OPTIONAL_COUNTS):
        negative = data[column] < 0
        if negative.any():
            issues.append(
                f"set {_plural(int(negative.sum()), 'negative ' + column + ' value')} to 0 (refunds or corrections)"
            )
            data.loc[negative, column] = 0.0
        data[column] = data[column].fillna(0.0)
    if data.empty:
        raise BudgetInputError("no usable rows left after removing rows with bad dates, ids or values")
    return data


def _deduplicate(data: pd.DataFrame, issues: list[str]) -> pd.DataFrame:
    exact = data.duplicated()
    if exact.any():
        issues.append(f"dropped {_plural(int(exact.sum()), 'exact duplicate row')}")
        data = data.loc[~exact]
    conflicting = data.duplicated(subset=[*AD_KEY, "date"], keep="last")
    if conflicting.any():
        issues.append(
            f"{_plural(int(conflicting.sum()), 'row')} repeated an ad and day with different numbers; kept the last one"
        )
        data = data.loc[~conflicting]
    campaigns = data.groupby(AD_KEY)["campaign_id"].nunique()
    if (campaigns > 1).any():
        examples = ", ".join(f"{p}/{a}" for p, a in campaigns[campaigns > 1].index[:3])
        raise BudgetInputError(
            f"ad(s) {examples} appear under more than one campaign_id; ad ids must be unique per platform"
        )
    return data


def _convert_currencies(
    data: pd.DataFrame, exchange_rates: Mapping[str, float] | None, base_currency: str | None
) -> tuple[pd.DataFrame, str | None]:
    if "currency" not in data.columns:
        data["currency"] = base_currency or ""
        data["rate_to_base"] = 1.0
        return data, base_currency
    data["currency"] = data["currency"].astype("string").str.strip().str.upper().fillna("")
    currencies = sorted(data["currency"].unique())
    per_ad = data.groupby(AD_KEY)["currency"].nunique()
    if (per_ad > 1).any():
        raise BudgetInputError("some ads report more than one currency; each ad must report in one currency")
    if len(currencies) == 1 and not exchange_rates:
        data["rate_to_base"] = 1.0
        return data, currencies[0] or base_currency
    if not exchange_rates:
        raise BudgetInputError(
            f"mixed currencies ({', '.join(c or '<blank>' for c in currencies)}): pass exchange rates "
            "(currency -> value of one unit in the base currency) or split the file by currency"
        )
    rates = {str(key).upper(): float(value) for key, value in exchange_rates.items()}
    unknown = [c or "<blank>" for c in currencies if c not in rates]
    if unknown:
        raise BudgetInputError(f"no exchange rate for currency {', '.join(unknown)}")
    if any(not np.isfinite(rates[c]) or rates[c] <= 0 for c in currencies):
        raise BudgetInputError("exchange rates must be positive numbers")
    data["rate_to_base"] = data["currency"].map(rates).astype(float)
    data["spend"] = data["spend"] * data["rate_to_base"]
    data["revenue"] = data["revenue"] * data["rate_to_base"]
    return data, base_currency


def _calendar_issues(dates: np.ndarray, last_date: pd.Timestamp, first_date: pd.Timestamp) -> list[str]:
    issues = []
    n_dates = len(dates)
    calendar_days = int((last_date - first_date).days) + 1
    if calendar_days > n_dates:
        issues.append(
            f"{_plural(calendar_days - n_dates, 'calendar day')} have no rows for any ad; treated as gaps, not as zero spend"
        )
    if n_dates == 1:
        issues.append(
            "only one day of data: curves rest on the pooled prior, so recommendations are cautious"
        )
    elif n_dates <= CURRENT_WINDOW_DAYS:
        issues.append(
            f"only {n_dates} days of data, all still collecting late conversions; estimates lean on the priors"
        )
    return issues


def _ad_table(data: pd.DataFrame) -> pd.DataFrame:
    """One row per ad (indexed by ``ad_index``); sets ``data["ad_index"]``."""
    ad_columns = ["platform", "campaign_id", "ad_id", "ad_group_id", "currency", "rate_to_base"]
    ads = data.groupby(AD_KEY, sort=True, as_index=False).agg(
        campaign_id=("campaign_id", "last"),
        ad_group_id=("ad_group_id", "last"),
        currency=("currency", "last"),
        rate_to_base=("rate_to_base", "last"),
        days_with_spend=("spend", lambda s: int((s > 0).sum())),
        total_spend=("spend", "sum"),
        total_revenue=("revenue", "sum"),
        total_conversions=("conversions", "sum"),
    )
    if "approved" in data.columns:
        ads["approved"] = data.groupby(AD_KEY, sort=True)["approved"].last().to_numpy()
    for column in ENTITY_COLUMNS:
        if column in data.columns:  # the latest known entity of each ad (null when never known)
            ads[column] = data.groupby(AD_KEY, sort=True)[column].last().to_numpy()
    ads = ads[[*ad_columns, *[c for c in ads.columns if c not in ad_columns]]]
    ads.index.name = "ad_index"
    index = pd.MultiIndex.from_frame(ads[AD_KEY])
    data["ad_index"] = index.get_indexer(pd.MultiIndex.from_frame(data[AD_KEY]))
    return ads


def _quarantined_per_ad(
    ads: pd.DataFrame, data: pd.DataFrame, quarantined: pd.DataFrame, dates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Quarantined days per ad: in all the history, and on the dates of the current-spend window.

    Only ad-days without a usable row count, and in the window only dates other ads have data
    for (a date no ad has is not in the window's day count to begin with).
    """
    total = np.zeros(len(ads), dtype=int)
    in_window = np.zeros(len(ads), dtype=int)
    if quarantined.empty:
        return total, in_window
    known = pd.MultiIndex.from_frame(data[[*AD_KEY, "date"]])
    days = quarantined[~pd.MultiIndex.from_frame(quarantined[[*AD_KEY, "date"]]).isin(known)]
    position = pd.MultiIndex.from_frame(ads[AD_KEY]).get_indexer(pd.MultiIndex.from_frame(days[AD_KEY]))
    days = days.assign(ad_index=position)
    days = days[days["ad_index"] >= 0]
    last_date = pd.Timestamp(dates.max())
    window = days["date"].isin(dates) & (days["date"] > last_date - pd.Timedelta(days=CURRENT_WINDOW_DAYS))
    np.add.at(total, days["ad_index"].to_numpy(int), 1)
    np.add.at(in_window, days.loc[window, "ad_index"].to_numpy(int), 1)
    return total, in_window


def _current_spend(
    data: pd.DataFrame, ads: pd.DataFrame, dates: np.ndarray, quarantined_in_window: np.ndarray
):
    """Mean daily spend over the last 7 dates of the file, per ad, counting only its known days.

    A date with data for other ads but no row for this ad counts as zero spend (a paused ad);
    a quarantined day of this ad is unknown, so it is left out of the mean instead.
    """
    last_date = dates.max()
    window_dates = int((dates >= last_date - pd.Timedelta(days=CURRENT_WINDOW_DAYS - 1)).sum())
    recent = data.loc[data["age_days"] < CURRENT_WINDOW_DAYS]
    recent_spend = recent.groupby("ad_index")["spend"].sum().reindex(ads.index, fill_value=0.0).to_numpy()
    known_days = window_dates - quarantined_in_window
    if not quarantined_in_window.any():
        return recent_spend / window_dates
    return np.where(known_days > 0, recent_spend / np.maximum(known_days, 1), 0.0)


def prepare_ad_history(
    frame: pd.DataFrame,
    *,
    exchange_rates: Mapping[str, float] | None = None,
    base_currency: str | None = None,
) -> AdHistory:
    """Validate ``frame`` and build an :class:`AdHistory`; raises :class:`BudgetInputError`."""
    issues: list[str] = []
    data = _normalise_columns(frame)
    data, quarantined = _split_quarantined(data, issues)
    data = _clean_values(data, issues)
    data = _deduplicate(data, issues)
    data, base = _convert_currencies(data, exchange_rates, base_currency)
    if "ad_group_id" not in data.columns:
        data["ad_group_id"] = pd.NA
    if "approved" in data.columns:
        data["approved"] = data["approved"].astype("string").str.strip().str.lower().isin(TRUE_WORDS)
    for column in ENTITY_COLUMNS:
        if column in data.columns:
            data[column] = data[column].astype("string").str.strip().replace("", pd.NA)

    last_date = data["date"].max()
    dates = np.sort(data["date"].unique())
    issues += _calendar_issues(dates, last_date, data["date"].min())
    data = data.sort_values([*AD_KEY, "date"]).reset_index(drop=True)
    ads = _ad_table(data)
    data["age_days"] = (last_date - data["date"]).dt.days.astype(int)
    data["day_of_week"] = data["date"].dt.day_of_week.astype(int)
    ads["quarantined_days"], in_window = _quarantined_per_ad(ads, data, quarantined, dates)
    ads["current_daily_spend"] = _current_spend(data, ads, dates, in_window)

    silent = int(((ads["total_spend"] > 0) & (ads["total_revenue"] <= 0)).sum())
    if silent:
        issues.append(
            f"{_plural(silent, 'ad')} spent money without recording any revenue; their curves lean on the campaign average"
        )
    if float(data["revenue"].sum()) <= 0:
        issues.append(
            "no revenue recorded in the whole file: there is nothing to optimise, current spend is kept"
        )
    daily = data[["ad_index", "date", "age_days", "day_of_week", "spend", "revenue", "conversions"]].copy()
    return AdHistory(
        daily=daily,
        ads=ads,
        last_date=last_date,
        n_dates=len(dates),
        base_currency=base,
        issues=issues,
        quarantined=quarantined,
    )
