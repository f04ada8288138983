"""What a test varied: its factor (subject style, send hour, ...) and level, from its arms.

Loopwise's own tests (``experiment_type = loopwise_test``) carry their factor and level from the
policy's library entry (``experiments.library``). The marketer's campaign A/B tests do not say
what they varied, so it is read from the variant subjects the way a team's own mapping would:
a variant whose subject is the control's subject wrapped in a known style template (e.g.
``Quick read: {subject}``) tests that style against the plain subject. The templates are
:data:`DEFAULT_SUBJECT_STYLES` below plus every ``subject_style`` entry of the policy's library
(a library entry's template replaces the default of the same level), so an account teaches the
mapping its own house styles by adding them to ``policy.yaml``; nothing here is vendor-specific.

A comparison of two styled subjects (``Quick read: X`` vs ``X (inside)``) contrasts two levels
(``reference_level`` is then the other style rather than ``plain``). Subjects that differ in more
than a template (different copy), and A/A tests, vary no factor level and are left out of the
learnings (counted in the run's notes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SUBJECT_STYLE = "subject_style"
PLAIN = "plain"  # the reference level of subject_style: the subject as the marketer wrote it
SUBJECT_PLACEHOLDER = "{subject}"
# one block a running Loopwise test adds to a subject for its variant arm
# (decision_engine.experiments.launch.conditional_subject): a style's prefix or suffix
_TEST_BLOCK = re.compile(r"\{% if person\|lookup:'lw_arm_[^']*' == 'variant' %\}.*?\{% endif %\}", re.DOTALL)


def marketer_subject(subject: str) -> str:
    """The subject as the marketer wrote it: ``subject`` without the blocks Loopwise's running
    tests added for their variant arms (unchanged when it has none). A campaign A/B test's
    messages carry such blocks while a test runs, and its arms are still the marketer's subjects."""
    return _TEST_BLOCK.sub("", subject)


@dataclass(frozen=True)
class SubjectStyle:
    """One level of the subject_style factor: how it dresses the marketer's subject."""

    level: str
    template: str  # contains {subject}

    def apply(self, subject: str) -> str:
        return self.template.replace(SUBJECT_PLACEHOLDER, subject)


#: House styles recognised without a library entry (the demo world's styles; an account adds its
#: own through the library). Edit here or, better, in the policy's ``experiments.library``.
DEFAULT_SUBJECT_STYLES: tuple[SubjectStyle, ...] = (
    SubjectStyle("inside", "{subject} (inside)"),
    SubjectStyle("quick_read", "Quick read: {subject}"),
    SubjectStyle("question", "{subject}?"),
    SubjectStyle("you_asked", "You asked: {subject}"),
)


@dataclass(frozen=True)
class LibraryEntry:
    """Content a human approved for tests (one entry of the policy's ``experiments.library``)."""

    library_id: str
    factor: str
    level: str
    subject_template: str | None = None
    description: str = ""


def library_entries(source: Any) -> tuple[LibraryEntry, ...]:
    """The library as :class:`LibraryEntry` records.

    ``source`` is a ``Policy`` (its ``experiments.library`` when the policy has one, else empty),
    or the entries themselves: mappings or objects with ``id`` (or ``library_id``), ``factor``,
    ``level`` and optionally ``subject_template`` and ``description``.
    """
    if source is None:
        return ()
    experiments = getattr(source, "experiments", None)
    if experiments is not None:
        source = getattr(experiments, "library", ()) or ()
    return tuple(_entry(item) for item in source)


def _entry(item: Any) -> LibraryEntry:
    if isinstance(item, LibraryEntry):
        return item
    fields: Mapping[str, Any] = item if isinstance(item, Mapping) else vars(item)
    library_id = fields.get("id", fields.get("library_id"))
    if not library_id or not fields.get("factor") or not fields.get("level"):
        raise ValueError(f"a library entry needs id, factor and level: {dict(fields)}")
    return LibraryEntry(
        library_id=str(library_id),
        factor=str(fields["factor"]),
        level=str(fields["level"]),
        subject_template=fields.get("subject_template"),
        description=str(fields.get("description") or ""),
    )


def subject_styles(library: Iterable[LibraryEntry] = ()) -> tuple[SubjectStyle, ...]:
    """The recognised styles: the defaults, with the library's subject_style entries added (an
    entry's template replaces the default of the same level)."""
    styles = {style.level: style for style in DEFAULT_SUBJECT_STYLES}
    for entry in library:
        if (
            entry.factor == SUBJECT_STYLE
            and entry.subject_template
            and SUBJECT_PLACEHOLDER in entry.subject_template
        ):
            styles[entry.level] = SubjectStyle(entry.level, entry.subject_template)
    return tuple(styles.values())


@dataclass(frozen=True)
class FactorLevel:
    """The factor and the two levels a comparison contrasts: ``level`` against ``reference_level``.

    ``sign`` is +1 when the variant arm carries ``level`` (the comparison's effect is the level's
    effect), -1 when the control carries it (the effect is flipped). A comparison with the plain
    subject always has ``reference_level = "plain"``; two styled subjects are ordered
    alphabetically, so the same pair of levels pools the same way whichever arm was control.
    """

    factor: str
    level: str
    reference_level: str
    sign: int


def _normal(text: str) -> str:
    return " ".join(text.split()).lower()


def subject_readings(subject: str, styles: Iterable[SubjectStyle]) -> list[tuple[str, str]]:
    """Every (level, core subject) reading of ``subject``: plain first, then each style it fits.
    Cores keep the subject's case (whitespace collapsed); compare them with :func:`same_text`."""
    text = " ".join(subject.split())
    readings = [(PLAIN, text)]
    for style in styles:
        prefix, _, suffix = style.template.partition(SUBJECT_PLACEHOLDER)
        prefix, suffix = _normal(prefix), _normal(suffix)
        lowered = text.lower()
        if (prefix or suffix) and lowered.startswith(prefix) and lowered.endswith(suffix):
            core = text[len(prefix) : len(text) - len(suffix)].strip()
            if core:
                readings.append((style.level, core))
    return readings


def same_text(a: str, b: str) -> bool:
    return _normal(a) == _normal(b)


def classify_subject_change(
    control_subject: str | None, variant_subject: str | None, styles: Iterable[SubjectStyle]
) -> FactorLevel | None:
    """The subject styles a variant contrasts with its control: both subjects read as one core
    subject in two different styles (one may be plain). None when they differ in anything else
    (different copy) or not at all (an A/A test)."""
    if not control_subject or not variant_subject or _normal(control_subject) == _normal(variant_subject):
        return None
    styles = tuple(styles)
    matches = [
        (control_level, variant_level)
        for control_level, control_core in subject_readings(control_subject, styles)
        for variant_level, variant_core in subject_readings(variant_subject, styles)
        if same_text(control_core, variant_core) and control_level != variant_level
    ]
    if not matches:
        return None
    # a reading against the plain subject is the simplest explanation of the pair
    control_level, variant_level = min(matches, key=lambda pair: PLAIN not in pair)
    if control_level == PLAIN:
        return FactorLevel(SUBJECT_STYLE, variant_level, PLAIN, +1)
    if variant_level == PLAIN:
        return FactorLevel(SUBJECT_STYLE, control_level, PLAIN, -1)
    level, reference = sorted((control_level, variant_level))
    return FactorLevel(SUBJECT_STYLE, level, reference, +1 if variant_level == level else -1)


#: Loopwise test ids: ``lw-<library id>-<yyyymmdd>`` (decision_engine.experiments.launch).
LOOPWISE_TEST_PREFIX = "lw-"


def library_id_of_test(test_id: str) -> str | None:
    """The library id in a Loopwise test id ``lw-<library id>-<yyyymmdd>`` (None if not one)."""
    test_id = test_id.removeprefix("loopwise:")
    if not test_id.startswith(LOOPWISE_TEST_PREFIX):
        return None
    body, _, date_part = test_id[len(LOOPWISE_TEST_PREFIX) :].rpartition("-")
    return body if body and len(date_part) == 8 and date_part.isdigit() else None
