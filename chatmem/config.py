"""Settings, layered: defaults < config file < .env < environment < command-line flags."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OPENAI_EMBEDDING_MODEL = "text-embedding-3-small"


@dataclass(frozen=True)
class ModelOverride:
    """A ``[models."NAME"]`` table of the config file."""

    context_window: int | None = None
    max_output_tokens: int | None = None
    input_price: float | None = None  # USD per million tokens
    output_price: float | None = None


def _setting(default: Any, env: str, kind: type | None = None, **kwargs: Any) -> Any:
    """A setting of the config file (under its own name) and of the environment (``env``,
    also read from ``.env``), of the type of its default unless ``kind`` says: the one place
    a setting is declared."""
    metadata = {"env": env, "kind": kind or type(default)}
    return field(default=default, metadata=metadata, **kwargs)


@dataclass(frozen=True)
class Settings:
    base_url: str = _setting(OPENAI_BASE_URL, "OPENAI_BASE_URL")
    api_key: str = _setting("", "OPENAI_API_KEY", repr=False)  # never in a repr, nor a log
    model: str = _setting("", "CHATMEM_MODEL")
    profile: str = _setting("default", "CHATMEM_PROFILE")
    theme: str = _setting("chatmem-dark", "CHATMEM_THEME")
    request_timeout: float = _setting(60.0, "CHATMEM_TIMEOUT")
    max_retries: int = _setting(2, "CHATMEM_MAX_RETRIES")
    context_window: int | None = _setting(None, "CHATMEM_CONTEXT_WINDOW", int)  # over the table
    memory_budget: int = _setting(2000, "CHATMEM_MEMORY_BUDGET")
    # fold old turns into the summary past this many tokens (0: when they must) …
    fold_at_tokens: int = _setting(0, "CHATMEM_FOLD_AT_TOKENS")
    fold_at_messages: int = _setting(80, "CHATMEM_FOLD_AT_MESSAGES")  # … or messages
    # "" = OpenAI's default, or the chat model elsewhere; "off"
    embedding_model: str = _setting("", "CHATMEM_EMBEDDING_MODEL")
    ollama_url: str = _setting("http://127.0.0.1:11434", "CHATMEM_OLLAMA_URL")
    # requests at once toward the server (0: 1 for a local server, else 4)
    concurrency: int = _setting(0, "CHATMEM_CONCURRENCY")
    models: dict[str, ModelOverride] = field(default_factory=dict)
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys ([keymap])
    config_path: str = ""
    data_dir: str = ""
    state_dir: str = ""

    @property
    def is_openai(self) -> bool:
        return self.base_url.rstrip("/") == OPENAI_BASE_URL

    @property
    def effective_concurrency(self) -> int:
        """Requests sent at once: a local server computes one at a time; hosted APIs more."""
        return self.concurrency or (4 if self.is_openai else 1)

    @property
    def effective_model(self) -> str:
        """The model to use: the one set, or OpenAI's default when talking to OpenAI."""
        return self.model or (DEFAULT_OPENAI_MODEL if self.is_openai else "")

    @property
    def effective_embedding_model(self) -> str:
        """The model asked for embeddings ("" when semantic recall is off)."""
        if self.embedding_model == "off":
            return ""
        if self.embedding_model:
            return self.embedding_model
        return DEFAULT_OPENAI_EMBEDDING_MODEL if self.is_openai else self.effective_model

    @property
    def configured(self) -> bool:
        """A model is known and there is a way to reach it (a key, or a non-OpenAI server)."""
        return bool(self.effective_model) and (bool(self.api_key) or not self.is_openai)


# ---------------------------------------------------------------- loading


_SETTINGS = [f for f in fields(Settings) if "env" in f.metadata]
_TYPES: dict[str, type] = {f.name: f.metadata["kind"] for f in _SETTINGS}
_ENV: dict[str, str] = {f.metadata["env"]: f.name for f in _SETTINGS}
_MODEL_KEYS = {
    "context_window": int,
    "max_output_tokens": int,
    "input_price": float,
    "output_price": float,
}


def _coerce(key: str, value: object, where: str, problems: list[str]) -> object | None:
    kind = _TYPES[key]
    try:
        if isinstance(value, bool) or (kind is str and not isinstance(value, str)):
            raise ValueError
        converted = kind(value)
        if kind is not str and converted < 0:
            raise ValueError
    except (TypeError, ValueError):
        shown = "(hidden)" if key == "api_key" else repr(value)
        problems.append(f"{where}: {key} = {shown} is not a valid {kind.__name__}; ignored.")
        return None
    if kind is str:
        converted = str(converted).strip()
        if key in ("base_url", "ollama_url"):
            converted = converted.rstrip("/")
    return None if converted == "" else converted


def _read_config(path: Path, problems: list[str]) -> dict:
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"The config file {path} could not be read ({exc}); using defaults.")
        return {}


def model_overrides(raw: object, where: str, problems: list[str]) -> dict[str, ModelOverride]:
    """``[models."NAME"]`` tables (of the config file or ``models.toml``), each value checked:
    a wrong one is reported in ``problems`` and ignored."""
    models: dict[str, ModelOverride] = {}
    if not isinstance(raw, dict):
        if raw:
            problems.append(f"{where}: models is not a table; ignored.")
        return models
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            problems.append(f"{where}: [models.{name!r}] is not a table; ignored.")
            continue
        values = {}
        for key, kind in _MODEL_KEYS.items():
            value = entry.get(key)
            if value is None:
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and math.isfinite(value) and value >= (0 if kind is float else 1):
                values[key] = kind(value)
            else:
                shown = f"models.{name}.{key} = {value!r}"
                problems.append(f"{where}: {shown} is not a usable number; ignored.")
        models[str(name)] = ModelOverride(**values)
    return models


def _keymap(raw: object, where: str, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, dict):
        if raw:
            problems.append(f"{where}: keymap is not a table; ignored.")
        return {}
    keymap = {}
    for binding_id, keys in raw.items():
        if isinstance(keys, str) and keys.strip():
            keymap[str(binding_id)] = keys.strip()
        else:
            problems.append(f'{where}: keymap.{binding_id} is not a key like "ctrl+n"; ignored.')
    return keymap


def load_settings(
    flags: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[Settings, list[str]]:
    """Settings from every layer, and plain-language problems found on the way (never raises)."""
    from chatmem.paths import resolve_paths

    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    paths = resolve_paths(env)
    problems: list[str] = []
    values: dict[str, object] = {}

    config = _read_config(paths.config_file, problems)
    for key, value in config.items():
        if key in _TYPES:
            converted = _coerce(key, value, str(paths.config_file), problems)
            if converted is not None:
                values[key] = converted
    models = model_overrides(config.get("models", {}), str(paths.config_file), problems)
    keymap = _keymap(config.get("keymap", {}), str(paths.config_file), problems)

    dotenv = {}
    if (cwd / ".env").is_file():
        from dotenv import dotenv_values  # only when there is a .env: it costs 10 ms to import

        dotenv = {k: v for k, v in dotenv_values(cwd / ".env").items() if v is not None}
    for source, mapping in (
        (".env", {k: v for k, v in dotenv.items() if k not in env}),
        ("environment", env),
    ):
        for var, key in _ENV.items():
            if mapping.get(var):
                converted = _coerce(key, mapping[var], f"{source} {var}", problems)
                if converted is not None:
                    values[key] = converted
    for key, value in (flags or {}).items():
        if value is not None and key in _TYPES:
            converted = _coerce(key, value, f"--{key.replace('_', '-')}", problems)
            if converted is not None:
                values[key] = converted

    settings = Settings(
        **values,  # type: ignore[arg-type]
        models=models,
        keymap=keymap,
        config_path=str(paths.config_file),
        data_dir=str(paths.data_dir),
        state_dir=str(paths.state_dir),
    )
    return settings, problems
