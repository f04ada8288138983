"""The digest's optional LLM summary settings, read from the environment in one place (never at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LlmSettings:
    api_key: str = field(repr=False)
    url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LlmSettings | None:
        """None unless ``LOOPWISE_LLM_API_KEY`` is set (the default: no summary)."""
        env = os.environ if environ is None else environ
        key = env.get("LOOPWISE_LLM_API_KEY", "").strip()
        if not key:
            return None
        return cls(
            api_key=key,
            url=(env.get("LOOPWISE_LLM_URL") or cls.url).rstrip("/"),
            model=env.get("LOOPWISE_LLM_MODEL") or cls.model,
            timeout_seconds=float(env.get("LOOPWISE_LLM_TIMEOUT_SECONDS") or cls.timeout_seconds),
        )
