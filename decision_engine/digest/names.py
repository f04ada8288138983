"""Human names for the ids the warehouse holds: the digest never prints a bare id.

:class:`NameBook` is read once from the warehouse (every source optional: a table that does not
exist yet adds nothing): Klaviyo campaigns, subject lines, flows and flow steps (the staging views
are where their names live), ad campaigns, ad sets / ad groups and ads
(``marts.fct_ad_performance_daily``), budget entities (``marts.dim_budget_entities``) and
Loopwise's own tests (``results.hypotheses``). What has no name is described by its kind ("an ad
set with no name in the export"), never by its id.

``BARE_ID_PATTERNS`` are the id shapes of the vendors (and of the sandbox that imitates them); the
digest's text goes through :meth:`NameBook.humanize`, which names every id it knows and describes
any other id-shaped token, so free text from an engine cannot leak one either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from decision_engine.experiments.factors import marketer_subject
from decision_engine.store import table_exists

# Klaviyo ids (profiles, campaigns, campaign messages) are 26-character ULIDs; Meta and Google ids
# are long numbers; people (contact_id) are sha256 hex digests; action and incident ids short hex.
BARE_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "ulid": re.compile(r"\b0[0-9A-HJKMNP-TV-Z]{25}\b"),
    "numeric": re.compile(r"(?<![\d.,])\d{7,}(?![\d.,]*\d)"),
    "hex": re.compile(r"\b[0-9a-f]{16,}\b"),
}

PLATFORM_NAMES = {"meta_ads": "Meta", "google_ads": "Google Ads", "klaviyo": "Klaviyo", "hubspot": "HubSpot"}

# What each kind of entity is called in a sentence (platform-specific where the vendors differ).
KIND_NAMES = {
    "campaign": "campaign",
    "email_campaign": "email campaign",
    "message": "email message",
    "flow": "flow",
    "flow_step": "flow step",
    "adset": "ad set",
    "ad_group": "ad group",
    "ad": "ad",
    "campaign_budget": "campaign budget",
    "experiment": "experiment",
    "action": "change",
    "incident": "incident",
    "contact": "person",
}


def platform_name(platform: str | None) -> str:
    """``meta_ads`` -> ``Meta``; an unknown platform keeps its name, spaced."""
    if not platform:
        return "an unknown platform"
    return PLATFORM_NAMES.get(platform, platform.replace("_", " "))


def unnamed(kind: str) -> str:
    """How the digest refers to an entity it has no name for."""
    noun = KIND_NAMES.get(kind, kind.replace("_", " "))
    article = "an" if noun[:1] in "aeiou" else "a"
    return f"{article} {noun} with no name in the export"


def quoted(name: str) -> str:
    return f"“{name.strip()}”"


def _rows(con: Any, schema: str, table: str, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall() if table_exists(con, schema, table) else []


@dataclass
class NameBook:
    """id -> a phrase naming the entity (``Meta ad set “Prospecting / Ad set 1”``)."""

    labels: dict[str, str] = field(default_factory=dict)
    short_names: dict[str, str] = field(default_factory=dict)  # id -> the name alone, for chart labels
    kinds: dict[str, str] = field(default_factory=dict)  # id -> kind, for ids known without a name
    library: dict[str, str] = field(default_factory=dict)  # library id -> what its test tries

    @classmethod
    def from_warehouse(cls, con: Any) -> NameBook:
        book = cls()
        book._read_email(con)
        book._read_ads(con)
        book._read_library(con)
        return book

    # ---- reading -------------------------------------------------------------------------------
    def add(self, entity_id: Any, kind: str, name: Any, phrase: str | None = None) -> None:
        if entity_id is None or str(entity_id) == "":
            return
        key = str(entity_id)
        if isinstance(name, str) and name.strip():
            self.labels.setdefault(key, phrase or f"{KIND_NAMES.get(kind, kind)} {quoted(name)}")
            self.short_names.setdefault(key, name.strip())
        self.kinds.setdefault(key, kind)

    def _read_email(self, con: Any) -> None:
        for campaign_id, name in _rows(
            con,
            "staging",
            "stg_klaviyo__campaigns",
            "select campaign_id, campaign_name from staging.stg_klaviyo__campaigns",
        ):
            self.add(campaign_id, "email_campaign", name)
        for message_id, subject in _rows(
            con,
            "staging",
            "stg_klaviyo__campaign_messages",
            "select message_id, subject from staging.stg_klaviyo__campaign_messages",
        ):
            subject = marketer_subject(subject) if isinstance(subject, str) else subject
            self.add(message_id, "message", subject, f"the message with subject line {quoted(subject or '')}")
        flows = dict(
            _rows(
                con,
                "staging",
                "stg_klaviyo__flows",
                "select flow_id, flow_name from staging.stg_klaviyo__flows",
            )
        )
        for flow_id, name in flows.items():
            self.add(flow_id, "flow", name)
        for action_id, flow_id, step in _rows(
            con,
            "staging",
            "stg_klaviyo__flow_actions",
            "select flow_action_id, flow_id, step_position from staging.stg_klaviyo__flow_actions",
        ):
            flow = flows.get(flow_id)
            if isinstance(flow, str) and flow.strip():
                self.add(action_id, "flow_step", flow, f"step {step} of flow {quoted(flow)}")
                self.short_names[str(action_id)] = f"{flow.strip()}, step {step}"
            else:
                self.add(action_id, "flow_step", None)

    def _read_ads(self, con: Any) -> None:
        for platform, entity_type, entity_id, name in _rows(
            con,
            "marts",
            "dim_budget_entities",
            "select platform, budget_entity_type, budget_entity_id, budget_entity_name from marts.dim_budget_entities",
        ):
            kind = {"adset": "adset", "campaign": "campaign", "campaign_budget": "campaign_budget"}.get(
                entity_type, str(entity_type)
            )
            self.add(
                entity_id,
                kind,
                name,
                f"{platform_name(platform)} {KIND_NAMES.get(kind, kind)} {quoted(name)}"
                if isinstance(name, str) and name.strip()
                else None,
            )
        for row in _rows(
            con,
            "marts",
            "fct_ad_performance_daily",
            "select distinct platform, campaign_id, campaign_name, ad_group_id, ad_group_name, ad_id, ad_name "
            "from marts.fct_ad_performance_daily",
        ):
            platform, campaign_id, campaign, group_id, group, ad_id, ad = row
            vendor = platform_name(platform)
            group_kind = "adset" if platform == "meta_ads" else "ad_group"
            for entity_id, kind, name in (
                (campaign_id, "campaign", campaign),
                (group_id, group_kind, group),
                (ad_id, "ad", ad),
            ):
                phrase = (
                    f"{vendor} {KIND_NAMES[kind]} {quoted(name)}"
                    if isinstance(name, str) and name.strip()
                    else None
                )
                self.add(entity_id, kind, name, phrase)

    def _read_library(self, con: Any) -> None:
        if not table_exists(con, "results", "hypotheses"):
            return
        columns = {
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'results' and table_name = 'hypotheses'"
            ).fetchall()
        }
        if not {"library_id", "factor", "level"} <= columns:
            return
        for library_id, factor, level in con.execute(
            "select library_id, any_value(factor), any_value(level) from results.hypotheses "
            "where library_id is not null group by library_id"
        ).fetchall():
            if isinstance(factor, str) and isinstance(level, str):  # e.g. "subject style quick read"
                self.library[str(library_id)] = f"{factor} {level}".replace("_", " ")

    # ---- naming --------------------------------------------------------------------------------
    def name(self, entity_id: Any, kind: str | None = None) -> str:
        """The phrase for ``entity_id``, or a description of its kind when it has no name."""
        key = "" if entity_id is None else str(entity_id)
        if key in self.labels:
            return self.labels[key]
        return unnamed(kind or self.kinds.get(key, "entity"))

    def short(self, entity_id: Any, kind: str | None = None) -> str:
        """The name alone (a chart label), or a description of its kind when it has none."""
        key = "" if entity_id is None else str(entity_id)
        return self.short_names.get(key) or unnamed(kind or self.kinds.get(key, "entity"))

    def short_experiment(self, experiment_id: str) -> str:
        """An experiment as a chart label: its campaign's name, its flow step, or what it tests."""
        kind, _, rest = str(experiment_id).partition(":")
        if kind == "campaign_ab":
            return self.short(rest, "email_campaign")
        if kind == "flow_split":
            return self.short(rest, "flow_step")
        return self.experiment(experiment_id)

    def experiment(self, experiment_id: str) -> str:
        """``campaign_ab:<campaign>`` -> "the A/B test in email campaign “...”" and so on."""
        kind, _, rest = str(experiment_id).partition(":")
        if experiment_id == "global_holdout":
            return "the email program's global holdout"
        if kind == "campaign_ab":
            return f"the A/B test in {self.name(rest, 'email_campaign')}"
        if kind == "flow_split":
            return f"the split test in {self.name(rest, 'flow_step')}"
        if kind == "loopwise":
            return self.loopwise_test(rest)
        return unnamed("experiment")

    def loopwise_test(self, test_id: str) -> str:
        """``lw-<library id>-<yyyymmdd>``: the library entry it tests, and the day it started."""
        match = re.fullmatch(r"lw-(.+)-(\d{4})(\d{2})(\d{2})", str(test_id))
        if not match:
            return "a Loopwise test"
        library_id, year, month, day = match.groups()
        what = self.library.get(library_id) or library_id.replace("_", " ")
        return f"Loopwise's test of {quoted(what)} (started {year}-{month}-{day})"

    def anomaly_entity(self, entity: str) -> str:
        """An incident's entity (``ad:meta_ads:<id>``, ``ad_platform:google_ads``, ``source:crm``...)."""
        kind, _, rest = str(entity).partition(":")
        if kind == "ad":
            platform, _, ad_id = rest.partition(":")
            return self.name(ad_id, "ad") if ad_id else f"an ad on {platform_name(platform)}"
        if kind == "ad_platform":
            return f"all {platform_name(rest)} ads"
        if kind == "email_stream":
            return "all email campaigns" if rest == "campaigns" else self.name(rest, "flow")
        if kind == "email_channel":
            return "all email"
        if kind == "crm":
            return f"the {platform_name(rest)} CRM"
        if kind == "source":
            source = rest.removeprefix("ads:")
            return f"the {platform_name(source) if source != 'crm' else 'CRM'} data feed"
        return self.humanize(str(entity))

    def humanize(self, text: str) -> str:
        """``text`` with every known id replaced by its name and any other id-shaped token described."""
        if not text:
            return ""

        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            return self.labels.get(token) or unnamed(self.kinds.get(token, "entity"))

        for pattern in BARE_ID_PATTERNS.values():
            text = pattern.sub(replace, text)
        return text


def bare_ids(text: str) -> list[str]:
    """Every id-shaped token in ``text`` (what a digest must not contain)."""
    return [match.group(0) for pattern in BARE_ID_PATTERNS.values() for match in pattern.finditer(text)]
