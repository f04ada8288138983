"""The code location's console logger: as Dagster's, but a step failure is logged as one line.

The stack of a failure stays in the run's event log (the Dagster UI), not on the operator's
terminal; ``loopwise demo``'s summary says why each step failed (``loopwise.errors.failure_line``).
It is the jobs' ``console`` logger in the code location itself, so a run the demo executes has
the same job snapshot as the job ``dagster dev`` shows.
"""

from __future__ import annotations

import logging

import dagster as dg
from dagster._loggers import colored_console_logger


class _FirstLineOfFailures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if "STEP_FAILURE" in message or "RUN_FAILURE" in message:
            record.msg = message.split("\n", 1)[0] + " (the stack is in the run's log in the Dagster UI)"
            record.args = ()
        return True


@dg.logger(
    colored_console_logger.config_schema, description="Dagster's console logger, failures in one line."
)
def brief_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = colored_console_logger.logger_fn(init_context)
    logger.addFilter(_FirstLineOfFailures())
    return logger
