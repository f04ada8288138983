"""The policy (``policy.yaml``): what the loop may change on its own, and its hard limits.

The file is validated on load so a typo cannot silently loosen a limit: unknown keys are an
error, missing keys take the defaults of the repository's ``policy.yaml`` (except
``experiments.library``: empty, so nothing is tested unless a human lists it), and every problem
is one line naming the file, the dotted key and what is wrong. The policy is data only;
``decision_engine.governance`` applies it to actions.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.settings import policy_path


class PolicyError(ValueError):
    """The policy file cannot be used; the message is one line naming the file and the key."""


def _between(low: float, high: float):
    def check(value: float) -> float:
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return check


def _at_least(low: float):
    def check(value: float) -> float:
        if not (math.isfinite(value) and value >= low):
            raise ValueError(f"must be at least {low:g}")
        return value

    return check


Percent = Annotated[float, AfterValidator(_between(0, 100))]
Share = Annotated[float, AfterValidator(_between(0, 1))]
Money = Annotated[float, AfterValidator(_at_least(0))]
Count = Annotated[int, AfterValidator(_at_least(1))]

# What the budget engine maximises: the platforms' attributed conversion value, that value
# re-weighted per platform by the expected value of the customers each platform acquires, or
# scaled per platform to the won CRM deal revenue of the contacts it acquires.
BudgetObjective = Literal["platform_revenue", "customer_value", "crm_won_revenue"]


class _Section(BaseModel):
    # strict: "20" is not 20 and true is not 1, so a quoting slip in the file is an error.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BudgetPolicy(_Section):
    max_change_pct: Percent = 20
    auto_approve_max_change_pct: Percent = 10
    min_daily_budget: Money = 5.0
    max_total_daily_budget: Money | None = None
    frozen: tuple[str, ...] = ()
    allow_shared_budgets: bool = False
    objective: BudgetObjective = "platform_revenue"

    @field_validator("frozen", mode="before")
    @classmethod
    def _list_as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value


LIBRARY_ID_PATTERN = r"^[a-z0-9][a-z0-9_]{0,31}$"
SUBJECT_PLACEHOLDER = "{subject}"


class LibraryEntry(_Section):
    """One piece of test content a human approved: a subject-line template for a factor's level."""

    id: Annotated[str, Field(pattern=LIBRARY_ID_PATTERN)]
    factor: Annotated[str, Field(min_length=1)]
    level: Annotated[str, Field(min_length=1)]
    subject_template: str
    description: str = ""

    @field_validator("subject_template")
    @classmethod
    def _one_subject_placeholder(cls, value: str) -> str:
        """``{subject}`` (the campaign's own subject) exactly once, and no other template syntax."""
        if value.count(SUBJECT_PLACEHOLDER) != 1:
            raise ValueError(f"must contain {SUBJECT_PLACEHOLDER} exactly once")
        rest = value.replace(SUBJECT_PLACEHOLDER, "")
        if any(mark in rest for mark in ("{", "}", "%")):
            raise ValueError(
                "may hold no braces or % besides {subject} (they would break the subject template)"
            )
        return value


class ExperimentsPolicy(_Section):
    auto_ship: bool = True
    min_units_per_arm: Count = 1000
    min_chance_to_beat_control: Share = 0.95
    holdback_share: Share = 0.05
    library: tuple[LibraryEntry, ...] = ()
    auto_launch: bool = True
    max_running_tests: Annotated[int, AfterValidator(_at_least(0))] = 4
    test_share: Share = 1.0

    @field_validator("library", mode="before")
    @classmethod
    def _list_as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    def library_entry(self, library_id: str) -> LibraryEntry | None:
        """The approved entry with this id, or None (content outside the library is never tested)."""
        return next((entry for entry in self.library if entry.id == library_id), None)


class SendTimePolicy(_Section):
    auto_apply: bool = True
    explore_share: Share = 0.10
    holdout_share: Share = 0.10


class ContentPolicy(_Section):
    auto_apply: bool = False


TOPIC_PLACEHOLDER = "{topic}"


class ContentVariant(_Section):
    """One angle's content a human approved: the preview-text / body line a recipient assigned this
    angle sees, with ``{topic}`` the campaign's own topic (``marts.dim_message_content``)."""

    angle: Annotated[str, Field(pattern=LIBRARY_ID_PATTERN)]
    preview_template: str

    @field_validator("preview_template")
    @classmethod
    def _topic_placeholder(cls, value: str) -> str:
        """At most one ``{topic}`` and no other template syntax (it goes inside a conditional block)."""
        if value.count(TOPIC_PLACEHOLDER) > 1:
            raise ValueError(f"may contain {TOPIC_PLACEHOLDER} at most once")
        rest = value.replace(TOPIC_PLACEHOLDER, "")
        if any(mark in rest for mark in ("{", "}", "%")) or not rest.strip():
            raise ValueError("must be non-empty text with no braces or % besides {topic}")
        return value


class ContentChoicePolicy(_Section):
    """Per-recipient content angle for upcoming campaigns (``personalize_content``)."""

    auto_apply: bool = True
    holdout_share: Share = 0.20
    library: tuple[ContentVariant, ...] = ()

    @field_validator("library", mode="before")
    @classmethod
    def _list_as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    def variant(self, angle: str) -> ContentVariant | None:
        return next((v for v in self.library if v.angle == angle), None)


class ExecutionPolicy(_Section):
    max_attempts: Count = 3


class RollbackPolicy(_Section):
    window_days: Count = 7
    auto_execute: bool = False


class Policy(_Section):
    version: Literal[1] = 1
    autonomy: Literal["off", "recommend", "auto"] = "auto"
    mode: Literal["dry_run", "execute"] = "execute"
    approval_expires_after_days: Count = 3
    budget: BudgetPolicy = Field(default_factory=BudgetPolicy)
    experiments: ExperimentsPolicy = Field(default_factory=ExperimentsPolicy)
    send_time: SendTimePolicy = Field(default_factory=SendTimePolicy)
    content: ContentPolicy = Field(default_factory=ContentPolicy)
    content_choice: ContentChoicePolicy = Field(default_factory=ContentChoicePolicy)
    execution: ExecutionPolicy = Field(default_factory=ExecutionPolicy)
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy)
    blackout_dates: tuple[date, ...] = ()

    @field_validator("autonomy", mode="before")
    @classmethod
    def _bare_off(cls, value: Any) -> Any:
        """YAML reads a bare ``off`` as false; the file's own comment says both spellings work."""
        return "off" if value is False else value

    @field_validator("blackout_dates", mode="before")
    @classmethod
    def _iso_dates(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return tuple(_iso_date(item) for item in value)

    def budget_proposal_cap(self) -> float:
        """The largest move (a fraction) the budget engine proposes per entity per run.

        Under ``autonomy: auto`` it is the auto-approval limit, so what the engine proposes can
        run unaided and the account's total stays where the optimiser put it (a move held for
        approval would leave the others unbalanced); under ``recommend`` a human sees every
        move anyway, so the engine may use the hard cap.
        """
        if self.autonomy == "auto":
            return self.budget.auto_approve_max_change_pct / 100
        return self.budget.max_change_pct / 100

    def budget_approval_cap(self) -> float | None:
        """The largest move (a fraction) the engine proposes for a human to approve, beyond
        :meth:`budget_proposal_cap`: the hard cap under ``autonomy: auto`` (the part of a move
        above the auto-approval limit becomes a second proposal that waits); None otherwise.
        """
        if self.autonomy != "auto" or self.budget.max_change_pct <= self.budget.auto_approve_max_change_pct:
            return None
        return self.budget.max_change_pct / 100

    def as_dict(self) -> dict[str, Any]:
        """The policy as loaded (defaults filled in), JSON-ready."""
        return self.model_dump(mode="json")

    def hash(self) -> str:
        """A short, stable fingerprint of the policy, logged beside every vendor write."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _iso_date(item: Any) -> date:
    if isinstance(item, str):
        try:
            return date.fromisoformat(item)
        except ValueError:
            pass
    raise ValueError(f"{item!r} is not an ISO date (YYYY-MM-DD)")


class _Loader(yaml.SafeLoader):
    """YAML without implicit dates: PyYAML raises a bare ValueError (no line) on 2026-13-01."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_policy(path: str | Path | None = None) -> Policy:
    """Read and validate the policy file (``core.settings.policy_path()`` when ``path`` is None)."""
    where = Path(path) if path is not None else policy_path()
    try:
        text = where.read_text()
    except FileNotFoundError:
        raise PolicyError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError(f"{where}: cannot read: {error}") from None
    return parse_policy(text, where)


def parse_policy(text: str, where: str | Path = "policy.yaml") -> Policy:
    """Validate policy YAML ``text``; ``where`` names the file in errors."""
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise PolicyError(f"{where}: not valid YAML{line}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise PolicyError(f"{where}: must be a mapping of keys (got {type(document).__name__})")
    try:
        policy = Policy.model_validate(document)
    except ValidationError as error:
        raise PolicyError(f"{where}: {_first_problem(error)}") from None
    contradiction = _contradiction(policy)
    if contradiction:
        raise PolicyError(f"{where}: {contradiction}")
    return policy


def _first_problem(error: ValidationError) -> str:
    problems = error.errors()
    first = problems[0]
    key = ".".join(str(part) for part in first["loc"] if not isinstance(part, int)) or "(top level)"
    if first["type"] == "extra_forbidden":
        problem = "unknown key"
    else:
        message = first["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        message = re.sub(r" or instance of \w+", "", message)
        problem = f"{message} (got {first['input']!r})"
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"{key}: {problem}{more}"


def _contradiction(policy: Policy) -> str | None:
    """Settings that are each valid but cannot hold together."""
    budget = policy.budget
    if budget.auto_approve_max_change_pct > budget.max_change_pct:
        return (
            f"budget.auto_approve_max_change_pct: must not exceed budget.max_change_pct "
            f"({budget.auto_approve_max_change_pct:g} > {budget.max_change_pct:g})"
        )
    shares = policy.send_time.explore_share + policy.send_time.holdout_share
    if shares > 1:
        return f"send_time.holdout_share: explore_share + holdout_share must be at most 1 (got {shares:g})"
    if budget.max_total_daily_budget is not None and budget.max_total_daily_budget < budget.min_daily_budget:
        return "budget.max_total_daily_budget: must be at least budget.min_daily_budget"
    angles = [variant.angle for variant in policy.content_choice.library]
    repeated_angles = sorted({name for name in angles if angles.count(name) > 1})
    if repeated_angles:
        return f"content_choice.library: angles must be unique (repeated: {', '.join(repeated_angles)})"
    ids = [entry.id for entry in policy.experiments.library]
    repeated = sorted({name for name in ids if ids.count(name) > 1})
    if repeated:
        return f"experiments.library: ids must be unique (repeated: {', '.join(repeated)})"
    if policy.experiments.test_share == 0 and policy.experiments.max_running_tests > 0:
        return "experiments.test_share: must be above 0 while experiments.max_running_tests allows tests"
    return None
