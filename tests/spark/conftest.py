"""The Spark tests run only on request: ``make test-spark`` (``-m spark``) or ``LOOPWISE_SPARK=1``.

They need the ``spark`` extra (pyspark and dbt-spark, about 430 MB, which ``make test-spark``
installs) and Java 17, and they run the demo on a local Spark session (a JVM; 5-8 minutes on
two cores): ``make test`` skips them with that reason, like the chaos and browser tests.
"""

from __future__ import annotations

import os
import re

import pytest


def spark_requested(config: pytest.Config) -> bool:
    markexpr = config.getoption("markexpr") or ""
    return re.search(r"\bspark\b", markexpr) is not None or os.environ.get("LOOPWISE_SPARK") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if spark_requested(config):
        return
    skip = pytest.mark.skip(
        reason="Spark engine (a JVM, a 430 MB extra, about 9 minutes): `make test-spark` runs it, and so does CI after `make test`"
    )
    for item in items:
        if item.get_closest_marker("spark") is not None:
            item.add_marker(skip)
