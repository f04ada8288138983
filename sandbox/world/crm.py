"""HubSpot CRM: contacts (overlapping the ESP by email, plus CRM-only) and deals through a pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sandbox import ids
from sandbox.spec import WorldSpec
from sandbox.util import DAY, NEVER, S_CRM, rng
from sandbox.world.contacts import Contacts
from sandbox.world.incidents import Incident

LIFECYCLE = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
DEAL_STAGES = ("appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon", "closedlost")
DEAL_STAGE_LABELS = (
    "Appointment Scheduled",
    "Qualified To Buy",
    "Contract Sent",
    "Closed Won",
    "Closed Lost",
)
DEAL_PROBABILITY = ("0.2", "0.4", "0.8", "1.0", "0.0")
SUBSCRIBER_TO_LEAD = (0.7, 6)  # (share of subscribers who become leads, mean days)
LEAD_STEPS = (
    (0.3, 8),
    (0.55, 6),
    (0.6, 5),
)  # lead -> MQL -> SQL -> opportunity: (base probability, mean days)
NON_ESP_PROPENSITY = 0.0025  # purchase propensity assumed for CRM-only contacts
SOURCES = ("EMAIL_MARKETING", "PAID_SOCIAL", "PAID_SEARCH", "ORGANIC_SEARCH", "DIRECT_TRAFFIC", "REFERRALS")


@dataclass
class Crm:
    contact_ids: np.ndarray  # int64 HubSpot ids, increasing with created time
    esp_index: np.ndarray  # ESP contact row, -1 for CRM-only contacts
    created_ts: np.ndarray
    source: np.ndarray
    stage_ts: np.ndarray  # (n, 6) lifecycle stage entry times, NEVER if not reached
    deal_ids: np.ndarray
    deal_contact: np.ndarray  # row in the contact arrays
    deal_created_ts: np.ndarray
    deal_amount: np.ndarray
    deal_stage_ts: np.ndarray  # (m, 5)
    deal_source: np.ndarray

    def contact_modified(self, clock_ts: int) -> np.ndarray:
        ts = np.where(self.stage_ts <= clock_ts, self.stage_ts, 0)
        return np.maximum(self.created_ts, ts.max(axis=1))

    def deal_modified(self, clock_ts: int) -> np.ndarray:
        ts = np.where(self.deal_stage_ts <= clock_ts, self.deal_stage_ts, 0)
        return np.maximum(self.deal_created_ts, ts.max(axis=1))


def crm_boost(contacts: Contacts, esp_index: np.ndarray) -> np.ndarray:
    """Each CRM contact's multiplier on the lead-stage probabilities (hidden: from purchase propensity)."""
    prop = np.where(esp_index >= 0, contacts.propensity[np.maximum(esp_index, 0)], NON_ESP_PROPENSITY)
    return np.clip(prop / NON_ESP_PROPENSITY, 0.4, 2.5)


def build_crm(
    spec: WorldSpec, contacts: Contacts, start_ts: int, horizon_days: int, incidents: list[Incident]
) -> Crm:
    g = rng(spec.seed, S_CRM)
    esp = np.nonzero(contacts.in_crm)[0]
    n_only = int(round(contacts.n * spec.crm_only_share))
    created_esp = contacts.created_ts[esp] + g.exponential(5 * DAY, len(esp)).astype(np.int64)
    created_only = start_ts + g.integers(-300 * DAY, horizon_days * DAY, n_only)
    created = np.concatenate([created_esp, created_only]).astype(np.int64)
    esp_index = np.concatenate([esp, np.full(n_only, -1)]).astype(np.int64)
    source = np.concatenate([np.zeros(len(esp)), g.integers(1, len(SOURCES), n_only)]).astype(np.int8)
    order = np.argsort(created, kind="stable")
    created, esp_index, source = created[order], esp_index[order], source[order]
    n = len(created)
    boost = crm_boost(contacts, esp_index)
    stage = np.full((n, len(LIFECYCLE)), NEVER, dtype=np.int64)
    is_sub = (esp_index >= 0) & (g.random(n) < 0.6)
    stage[is_sub, 0] = created[is_sub]
    lead_share, lead_days = SUBSCRIBER_TO_LEAD
    lead_at = np.where(is_sub, created + g.exponential(lead_days * DAY, n).astype(np.int64), created)
    has_lead = ~is_sub | (g.random(n) < lead_share)
    stage[has_lead, 1] = lead_at[has_lead]
    t, alive = lead_at, has_lead
    for j, (p, mean_days) in enumerate(LEAD_STEPS, start=2):
        t = t + g.exponential(mean_days * DAY, n).astype(np.int64)
        alive = alive & (g.random(n) < np.clip(p * boost, 0, 0.95))
        stage[alive, j] = t[alive]
    opp = np.nonzero(alive)[0]  # a deal per opportunity
    m = len(opp)
    d_created = stage[opp, 4]
    d_stage = np.full((m, len(DEAL_STAGES)), NEVER, dtype=np.int64)
    d_stage[:, 0] = d_created
    t = d_created
    won = np.zeros(m, dtype=bool)
    going = np.ones(m, dtype=bool)
    for j, (p, mean_days) in enumerate([(0.8, 4), (0.7, 6)], start=1):
        t_next = t + g.exponential(mean_days * DAY, m).astype(np.int64)
        ok = g.random(m) < p
        d_stage[going & ok, j] = t_next[going & ok]
        lost_now = going & ~ok
        d_stage[lost_now, 4] = t_next[lost_now]
        going = going & ok
        t = t_next
    t_close = t + g.exponential(8 * DAY, m).astype(np.int64)
    won = going & (g.random(m) < 0.55)
    d_stage[won, 3] = t_close[won]
    d_stage[going & ~won, 4] = t_close[going & ~won]
    stage[opp[won], 5] = t_close[won]
    amount = np.round(g.lognormal(np.log(6000), 0.6, m), 2)
    for inc in incidents:  # nothing reaches HubSpot during a sync stall; it all lands at the end
        if inc.kind == "crm_sync_stall":
            for arr in (created, stage, d_stage, d_created):
                hit = (arr >= inc.start_ts) & (arr < inc.end_ts)
                arr[hit] = inc.end_ts + (arr[hit] - inc.start_ts) % 1800
    stage[:, 0] = np.where(stage[:, 0] < NEVER, np.maximum(stage[:, 0], created), NEVER)
    d_order = np.argsort(d_created, kind="stable")
    return Crm(
        contact_ids=ids.hubspot_contact_ids(spec.seed, n),
        esp_index=esp_index,
        created_ts=created,
        source=source,
        stage_ts=stage,
        deal_ids=ids.hubspot_deal_ids(spec.seed, m),
        deal_contact=opp[d_order],
        deal_created_ts=d_created[d_order],
        deal_amount=amount[d_order],
        deal_stage_ts=d_stage[d_order],
        deal_source=source[opp[d_order]],
    )
