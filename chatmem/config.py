"""Settings, layered: defaults < config file < .env < environment < command-line flags."""

from __future__ import annotations

from dataclasses import dataclass, field

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class ModelOverride:
    """A ``[models."NAME"]`` table of the config file."""

    context_window: int | None = None
    max_output_tokens: int | None = None
    input_price: float | None = None  # USD per million tokens
    output_price: float | None = None


@dataclass(frozen=True)
class Settings:
    base_url: str = OPENAI_BASE_URL
    api_key: str = field(default="", repr=False)  # never in a repr, so never in a log
    model: str = ""
    profile: str = "default"
    theme: str = "chatmem-dark"
    request_timeout: float = 60.0
    max_retries: int = 2
    context_window: int | None = None  # CHATMEM_CONTEXT_WINDOW: overrides the table for this run
    memory_budget: int = 2000
    ollama_url: str = "http://127.0.0.1:11434"
    models: dict[str, ModelOverride] = field(default_factory=dict)
    config_path: str = ""
    data_dir: str = ""
    state_dir: str = ""

    @property
    def is_openai(self) -> bool:
        return self.base_url.rstrip("/") == OPENAI_BASE_URL

    @property
    def effective_model(self) -> str:
        """The model to use: the one set, or OpenAI's default when talking to OpenAI."""
        return self.model or (DEFAULT_OPENAI_MODEL if self.is_openai else "")

    @property
    def configured(self) -> bool:
        """A model is known and there is a way to reach it (a key, or a non-OpenAI server)."""
        return bool(self.effective_model) and (bool(self.api_key) or not self.is_openai)
