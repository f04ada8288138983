"""Campaign subjects Loopwise writes: the template tags the sandbox renders, and subject styles' true effects.

A subject may be plain text or contain Klaviyo conditional blocks that read a profile property:

    {% if person|lookup:'NAME' == 'VALUE' %}A{% elif person|lookup:'NAME' == 'VALUE2' %}B{% else %}C{% endif %}

(``elif`` and ``else`` optional, any number of ``elif``; plain text around blocks; no nesting).
Anything else with ``{%`` or ``{{`` is refused: :class:`TemplateError` says what is supported.

A subject's *styles* are the ``SUBJECT_STYLES`` decorations it carries ("Quick read: ", "You
asked: ", " (inside)", a trailing "?"), found by stripping them from the outside in. Each world
gives each style a seeded multiplicative effect on open, click and conversion (exactly 1.0 for
some styles, and for every style in some worlds); a subject's effect is the product over its
styles. Nothing here changes a world that Loopwise never wrote to.

A message's preview text takes the same grammar. Its rendered text names the content angle a
recipient is shown by its catalog label before " | " (the plan's own preview texts read
"case study | <topic>"): :func:`content_angle`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sandbox.util import rng
from sandbox.world.contacts import AFFINITIES

S_SUBJECT_STYLES = 12  # random stream of the style effects (after sandbox.util's S_* streams)
# style key -> (prefix, suffix) of SUBJECT_STYLES in sandbox/world/email_plan.py
STYLES = {
    "quick_read": ("Quick read: ", ""),
    "you_asked": ("You asked: ", ""),
    "inside": ("", " (inside)"),
    "question": ("", "?"),
}
METRICS = ("open", "click", "conversion")
NULL_WORLD_SHARE = 0.25  # worlds where no style has any effect (A/A-like)
NULL_STYLE_SHARE = 0.3  # styles with exactly no effect in the other worlds
EFFECT_SD = {"open": 0.15, "click": 0.12, "conversion": 0.08}  # a subject moves opens most
EFFECT_RANGE = (0.8, 1.3)
SUPPORTED = (
    "the sandbox renders plain text and blocks "
    "{% if person|lookup:'NAME' == 'VALUE' %}...{% elif person|lookup:'NAME' == 'VALUE' %}..."
    "{% else %}...{% endif %} (elif and else optional, no nesting, no other tags)"
)
_QUOTED = r"""(?:'([^'\\]*)'|"([^"\\]*)")"""
_CONDITION = re.compile(rf"person\s*\|\s*lookup\s*:\s*{_QUOTED}\s*==\s*{_QUOTED}")
_TAG = re.compile(r"{%\s*(.*?)\s*%}", re.S)
LABEL_SEPARATOR = " | "


class TemplateError(ValueError):
    """A subject the sandbox cannot render (the message says what it supports)."""


@dataclass(frozen=True)
class Branch:
    """Recipients whose property ``name`` equals ``value`` (exact string match) get ``text``."""

    name: str
    value: str
    text: str


@dataclass(frozen=True)
class Conditional:
    branches: tuple[Branch, ...]
    otherwise: str


Segment = str | Conditional


def parse_subject(subject: str) -> list[Segment]:
    """Plain text and conditional blocks, in order; :class:`TemplateError` for anything else."""
    if "{{" in subject:
        raise TemplateError(f"variable tags ({{{{ ... }}}}) are not supported: {SUPPORTED}")
    segments: list[Segment] = []
    branches: list[Branch] | None = None  # the open block's finished branches; None: outside a block
    condition: tuple[str, str] | None = None  # the open branch's (name, value); None: the else branch
    pos = 0
    for m in _TAG.finditer(subject):
        text, tag, pos = subject[pos : m.start()], m.group(1), m.end()
        word = tag.split(None, 1)[0] if tag else ""
        if branches is None:
            if word != "if":
                raise TemplateError(f"unexpected tag {{% {tag} %}}: {SUPPORTED}")
            if text:
                segments.append(text)
            branches, condition = [], _condition(tag[2:])
        elif word == "elif" and condition is not None:
            branches.append(Branch(*condition, text))
            condition = _condition(tag[4:])
        elif tag == "else" and condition is not None:
            branches.append(Branch(*condition, text))
            condition = None
        elif tag == "endif":
            if condition is not None:
                branches.append(Branch(*condition, text))
            segments.append(Conditional(tuple(branches), text if condition is None else ""))
            branches = None
        else:
            raise TemplateError(f"unexpected tag {{% {tag} %}} (nested, misplaced or unknown): {SUPPORTED}")
    if branches is not None:
        raise TemplateError(f"{{% if %}} without {{% endif %}}: {SUPPORTED}")
    rest = subject[pos:]
    if "{%" in rest or "%}" in rest:
        raise TemplateError(f"an unterminated tag: {SUPPORTED}")
    if rest:
        segments.append(rest)
    return segments


def _condition(text: str) -> tuple[str, str]:
    m = _CONDITION.fullmatch(text.strip())
    if m is None:
        raise TemplateError(f"unsupported condition {text.strip()!r}: {SUPPORTED}")
    name = m.group(1) if m.group(1) is not None else m.group(2)
    value = m.group(3) if m.group(3) is not None else m.group(4)
    if not name:
        raise TemplateError(f"empty property name: {SUPPORTED}")
    return name, value


def is_template(subject: str) -> bool:
    return any(isinstance(s, Conditional) for s in parse_subject(subject))


def properties_read(segments: list[Segment]) -> list[str]:
    """The profile properties a parsed subject reads, in first-use order."""
    names: list[str] = []
    for seg in segments:
        if isinstance(seg, Conditional):
            names += [b.name for b in seg.branches if b.name not in names]
    return names


def render(
    segments: list[Segment], properties: dict[str, np.ndarray], n: int
) -> tuple[list[str], np.ndarray]:
    """(distinct subjects, code per recipient) for ``n`` recipients, given each read property's
    value per recipient (``properties[name]``: an object array, None where the profile has none)."""
    choice = []  # per conditional: the branch index per recipient (len(branches): otherwise)
    for seg in segments:
        if isinstance(seg, Conditional):
            picked = np.full(n, len(seg.branches), dtype=np.int32)
            for j in reversed(range(len(seg.branches))):
                b = seg.branches[j]
                hit = np.array([v == b.value for v in properties[b.name]], dtype=bool)
                picked[hit] = j
            choice.append(picked)
    if not choice or n == 0:
        return ["".join(s for s in segments if isinstance(s, str))], np.zeros(n, dtype=np.int32)
    combos, code = np.unique(np.stack(choice, axis=1), axis=0, return_inverse=True)
    subjects = []
    for combo in combos:
        parts, k = [], 0
        for seg in segments:
            if isinstance(seg, Conditional):
                j = int(combo[k])
                parts.append(seg.branches[j].text if j < len(seg.branches) else seg.otherwise)
                k += 1
            else:
                parts.append(seg)
        subjects.append("".join(parts))
    return subjects, np.asarray(code, dtype=np.int32).reshape(n)


def styles_of(subject: str) -> frozenset[str]:
    """The styles a concrete subject carries, stripped from the outside in."""
    found: set[str] = set()
    text = subject
    changed = True
    while changed:
        changed = False
        for style, (prefix, suffix) in STYLES.items():
            if prefix and text.startswith(prefix) and len(text) > len(prefix):
                text, changed = text[len(prefix) :], True
                found.add(style)
            if suffix and text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)], True
                found.add(style)
    return frozenset(found)


def style_effects(seed: int) -> dict[str, dict[str, float]]:
    """The world's true multiplicative effect of each style on open, click and conversion."""
    g = rng(seed, S_SUBJECT_STYLES)
    null_world = bool(g.random() < NULL_WORLD_SHARE)
    out = {}
    for style in STYLES:
        null_style = bool(g.random() < NULL_STYLE_SHARE)
        quality = g.normal()  # a style that helps opens tends to help clicks and orders too
        draws = {
            m: float(np.clip(1 + EFFECT_SD[m] * (0.8 * quality + 0.6 * g.normal()), *EFFECT_RANGE))
            for m in METRICS
        }
        out[style] = {m: 1.0 if null_world or null_style else round(draws[m], 4) for m in METRICS}
    return out


def subject_effect(effects: dict[str, dict[str, float]], subject: str) -> dict[str, float]:
    """The product of the subject's styles' effects, per metric (1.0: plain)."""
    out = dict.fromkeys(METRICS, 1.0)
    for style in styles_of(subject):
        for m in METRICS:
            out[m] *= effects[style][m]
    return out


def relative_effect(effects: dict[str, dict[str, float]], rendered: str, own: str) -> dict[str, float]:
    """Lift multiplier of sending ``rendered`` instead of the message's own subject ``own``."""
    new, old = subject_effect(effects, rendered), subject_effect(effects, own)
    return {m: new[m] / old[m] for m in METRICS}


def content_angle(preview_text: str, own: int) -> int:
    """The angle (index in ``AFFINITIES``) a rendered preview text shows: its label before " | ",
    lowercase with spaces as underscores ("how to | ..." -> how_to); ``own`` for any other text."""
    label, sep, _ = preview_text.partition(LABEL_SEPARATOR)
    label = label.strip().lower().replace(" ", "_")
    return AFFINITIES.index(label) if sep and label in AFFINITIES else own
