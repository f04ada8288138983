"""Custom profile properties from the write log, indexed for the API and for rendering at send time.

Two kinds of write carry properties: ``set_profile_property`` (one profile, ``PATCH
/api/profiles/{id}``) and ``import_profiles`` (a bulk import job: ``value`` maps profile id to
its properties). Both are kept whole in the write log; this index is derived from it, built on
first use and kept current as writes are appended (the log only grows, with non-decreasing
``clock_day``, so "the writes made by world day d" is a prefix of it).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from typing import Any

import numpy as np

PROPERTY_WRITES = ("set_profile_property", "import_profiles")
VALUE_CACHE = 16  # (property, write prefix) value arrays kept


def property_entries(write: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(profile id, properties) pairs a write sets, in the order it sets them."""
    if write["action"] == "set_profile_property":
        yield write["target"], write["value"]
    elif write["action"] == "import_profiles":
        yield from write["value"].items()


class ProfilePropertyIndex:
    """Merged properties per profile (current), and per-contact values of one property as of a world day."""

    def __init__(self, contact_of: dict[str, int], n_contacts: int) -> None:
        self._contact_of = contact_of
        self._n = n_contacts
        self._merged: dict[str, dict[str, Any]] = {}
        self._writes: list[dict[str, Any]] = []  # property writes only, in log order
        self._days: list[int] = []  # their clock_day (non-decreasing)
        self._values: dict[tuple[str, int], np.ndarray] = {}
        self._last_day = np.full(n_contacts, -1, dtype=np.int64)

    def add(self, write: dict[str, Any]) -> None:
        if write["action"] not in PROPERTY_WRITES:
            return
        self._writes.append(write)
        self._days.append(int(write["clock_day"]))
        for profile_id, properties in property_entries(write):
            self._merged.setdefault(profile_id, {}).update(properties)
            self._last_day[self._contact_of[profile_id]] = int(write["clock_day"])

    def merged(self, profile_id: str) -> dict[str, Any]:
        """Every property written to the profile, later writes overwriting earlier ones."""
        return dict(self._merged.get(profile_id, {}))

    def last_write_day(self) -> np.ndarray:
        """Per contact: the world day of the last property write to its profile (-1: never).

        Shared between callers: do not modify it.
        """
        return self._last_day

    def values(self, name: str, day: int) -> np.ndarray:
        """Per contact: the value of property ``name`` after the writes made by world day ``day`` (None: unset).

        An object array over all contacts, shared between callers: do not modify it.
        """
        prefix = bisect_right(self._days, day)
        key = (name, prefix)
        if key not in self._values:
            out = np.full(self._n, None, dtype=object)
            for write in self._writes[:prefix]:
                for profile_id, properties in property_entries(write):
                    if name in properties:
                        out[self._contact_of[profile_id]] = properties[name]
            if len(self._values) >= VALUE_CACHE:
                self._values.pop(next(iter(self._values)))
            self._values[key] = out
        return self._values[key]
