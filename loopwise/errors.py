"""Errors the ``loopwise`` command reports as one clear line (exit code 2)."""


class UsageError(Exception):
    """Bad input from the user: a missing column, an unknown variant, an unreadable file."""
