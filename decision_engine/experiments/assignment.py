"""Who is in which arm of a Loopwise test: a deterministic hash of the profile and the test.

The same profile and test always land in the same arm, on any machine and in any run, so a
re-executed write sets the same values and the analysis can recompute the split. Three
independent uniforms come from one SHA-256 of ``<test id>:<profile id>``: enrolment (share
``experiments.test_share``), the arm (50/50), and after a rollout the holdback.

Arms are written to the profile property ``lw_arm_<key>`` and recorded in
``results.experiment_assignments`` once the vendor write succeeded
(:func:`record_assignments`); a rollout's new arms are new rows with a later ``assigned_at``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from core.results_schema import column_names
from decision_engine.store import RESULTS_SCHEMA, append_results, ensure_results_table

Arm = Literal["control", "variant", "holdback"]
CONTROL: Arm = "control"
VARIANT: Arm = "variant"
HOLDBACK: Arm = "holdback"
TEST_ARMS: tuple[Arm, Arm] = (CONTROL, VARIANT)
ASSIGNMENTS_TABLE = "experiment_assignments"

_SCALE = float(1 << 53)


def _uniforms(test_id: str, profile_id: str) -> tuple[float, float, float]:
    digest = hashlib.sha256(f"{test_id}:{profile_id}".encode()).digest()
    return tuple(int.from_bytes(digest[i : i + 7], "big") % (1 << 53) / _SCALE for i in (0, 8, 16))  # type: ignore[return-value]


def assign_test_arm(test_id: str, profile_id: str, test_share: float = 1.0) -> Arm | None:
    """The profile's arm in the test (None when it is not enrolled): 50/50 among the enrolled."""
    enrol, split, _ = _uniforms(test_id, profile_id)
    if enrol >= test_share:
        return None
    return VARIANT if split >= 0.5 else CONTROL


def rollout_arm(
    test_id: str, profile_id: str, arm_before: str | None, holdback_share: float, kept_share: float
) -> Arm:
    """The arm after a rollout: everyone gets the variant except a holdback of ``holdback_share``
    of the audience, drawn only from contacts not on the variant (``kept_share`` of the audience:
    control and the never enrolled), so no one who saw the variant is switched back."""
    if arm_before == VARIANT or kept_share <= 0:
        return VARIANT
    _, _, draw = _uniforms(test_id, profile_id)
    return HOLDBACK if draw < min(1.0, holdback_share / kept_share) else VARIANT


@dataclass(frozen=True)
class Enrolled:
    """One subscribed contact that can be assigned."""

    contact_id: str
    klaviyo_profile_id: str


def enrollable_contacts(con: Any) -> list[Enrolled]:
    """Subscribed contacts with a Klaviyo profile, outside the global holdout (it gets no email)."""
    rows = con.execute(
        "select contact_id, klaviyo_profile_id from marts.dim_contacts where is_subscribed "
        "and not coalesce(is_in_global_holdout, false) and klaviyo_profile_id is not null "
        "order by klaviyo_profile_id"
    ).fetchall()
    return [Enrolled(str(contact), str(profile)) for contact, profile in rows]


def launch_assignments(
    test_id: str, contacts: Iterable[Enrolled], test_share: float
) -> dict[str, dict[str, str]]:
    """``{profile id: {"contact_id", "arm"}}`` for the enrolled contacts of a new test."""
    found = {}
    for contact in contacts:
        arm = assign_test_arm(test_id, contact.klaviyo_profile_id, test_share)
        if arm is not None:
            found[contact.klaviyo_profile_id] = {"contact_id": contact.contact_id, "arm": arm}
    return found


def current_arms(con: Any, test_id: str) -> dict[str, str]:
    """``{profile id: arm}`` in force now (each contact's latest row) for ``test_id``."""
    ensure_results_table(con, ASSIGNMENTS_TABLE)
    rows = con.execute(
        f"select klaviyo_profile_id, arm from {RESULTS_SCHEMA}.{ASSIGNMENTS_TABLE} where experiment_id = ? "
        "qualify row_number() over (partition by contact_id order by assigned_at desc) = 1",
        [test_id],
    ).fetchall()
    return {str(profile): str(arm) for profile, arm in rows}


def rollout_assignments(
    test_id: str, contacts: Iterable[Enrolled], arms_before: Mapping[str, str], holdback_share: float
) -> dict[str, dict[str, str]]:
    """``{profile id: {"contact_id", "arm"}}`` after shipping the variant to every subscribed
    contact except the holdback (see :func:`rollout_arm`)."""
    people = list(contacts)
    on_variant = sum(arms_before.get(c.klaviyo_profile_id) == VARIANT for c in people)
    kept_share = 1 - on_variant / len(people) if people else 0.0
    return {
        c.klaviyo_profile_id: {
            "contact_id": c.contact_id,
            "arm": rollout_arm(
                test_id,
                c.klaviyo_profile_id,
                arms_before.get(c.klaviyo_profile_id),
                holdback_share,
                kept_share,
            ),
        }  # fmt: skip
        for c in people
    }


def arm_counts(assignments: Mapping[str, Mapping[str, str]]) -> dict[str, int]:
    """Profiles per arm: the value a bulk property write requests and reads back."""
    return dict(sorted(Counter(entry["arm"] for entry in assignments.values()).items()))


def assignments_frame(
    test_id: str, assignments: Mapping[str, Mapping[str, str]], assigned_at: datetime, action_id: str
) -> pd.DataFrame:
    """``results.experiment_assignments`` rows for one successful write."""
    rows = [
        {
            "experiment_id": test_id,
            "contact_id": entry["contact_id"],
            "klaviyo_profile_id": profile_id,
            "arm": entry["arm"],
            "assigned_at": pd.Timestamp(assigned_at),
            "action_id": action_id,
        }
        for profile_id, entry in sorted(assignments.items())
    ]
    return pd.DataFrame(rows, columns=column_names(ASSIGNMENTS_TABLE))


def record_assignments(
    con: Any,
    test_id: str,
    assignments: Mapping[str, Mapping[str, str]],
    assigned_at: datetime,
    action_id: str,
) -> int:
    """Append the arms one write set (call only after the vendor accepted it). Rows whose arm is
    already in force for the contact are left out, so a resumed write adds nothing twice."""
    ensure_results_table(con, ASSIGNMENTS_TABLE)
    before = current_arms(con, test_id)
    changed = {p: e for p, e in assignments.items() if before.get(p) != e["arm"]}
    return append_results(con, ASSIGNMENTS_TABLE, assignments_frame(test_id, changed, assigned_at, action_id))
