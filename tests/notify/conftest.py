from __future__ import annotations

from collections.abc import Iterator

import pytest
from notify_receivers import HttpRecorder, SmtpRecorder


@pytest.fixture
def http_receiver() -> Iterator[HttpRecorder]:
    recorder = HttpRecorder().start()
    yield recorder
    recorder.stop()


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpRecorder]:
    recorder = SmtpRecorder().start()
    yield recorder
    recorder.stop()
