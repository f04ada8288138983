"""Klaviyo JSON:API filter expressions: `and(greater-than(datetime,2026-01-01T00:00:00Z),equals(x,"y"))`.

Operators: comparisons on timestamps, `equals`, `contains` (a substring) and `any` (a list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from sandbox.util import parse_datetime

COMPARISONS = ("greater-than", "greater-or-equal", "less-than", "less-or-equal")


@dataclass
class Condition:
    op: str
    field: str
    value: str

    @property
    def timestamp(self) -> float:
        return parse_datetime(self.value)

    def mask(self, ts: np.ndarray) -> np.ndarray:
        v = self.timestamp
        return {
            "greater-than": ts > v,
            "greater-or-equal": ts >= v,
            "less-than": ts < v,
            "less-or-equal": ts <= v,
        }[self.op]


def _split_top(text: str) -> list[str]:
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def parse_filter(text: str | None) -> list[Condition]:
    """Flatten a filter into a conjunction of conditions; ValueError when it does not parse."""
    if not text:
        return []
    out = []
    for part in _split_top(text):
        m = re.fullmatch(r"([a-z-]+)\((.*)\)", part, re.S)
        if not m:
            raise ValueError(f"invalid filter expression {part!r}")
        op, inner = m.groups()
        if op == "and":
            out += parse_filter(inner)
            continue
        args = _split_top(inner)
        if len(args) != 2:
            raise ValueError(f"invalid filter expression {part!r}")
        value = args[1]
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        cond = Condition(op, args[0], value)
        if op in COMPARISONS:
            cond.timestamp  # noqa: B018 - validate the datetime now
        elif op not in ("equals", "any", "contains"):
            raise ValueError(f"unsupported filter operator {op!r}")
        out.append(cond)
    return out


def listed(value: str) -> list[str]:
    """The values of an ``any`` condition: ``["a","b"]`` (either quote style) -> ``["a", "b"]``."""
    inner = value.strip()
    if not (inner.startswith("[") and inner.endswith("]")):
        raise ValueError(f'expected a list like ["a","b"], got {value!r}')
    return [part.strip().strip("\"'") for part in _split_top(inner[1:-1])]


def time_mask(
    conds: list[Condition], allowed: tuple[str, ...], field_values: dict[str, np.ndarray], n: int
) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    for c in conds:
        if c.op in COMPARISONS:
            if c.field not in allowed:
                raise ValueError(f"filter on {c.field!r} is not supported; use one of {list(allowed)}")
            mask &= c.mask(field_values[c.field])
    return mask


def time_bounds(conds: list[Condition], fields: tuple[str, ...]) -> tuple[float, float]:
    lo, hi = -np.inf, np.inf
    for c in conds:
        if c.op in COMPARISONS and c.field in fields:
            if c.op.startswith("greater"):
                lo = max(lo, c.timestamp)
            else:
                hi = min(hi, c.timestamp)
    return lo, hi
