"""The model table: context windows, output reserves and prices, from data files."""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path

from chatmem.config import ModelOverride, Settings, model_overrides

log = logging.getLogger(__name__)

TABLE_FILE = Path(__file__).resolve().parent.parent / "data" / "models.toml"
DEFAULT_WINDOW = 8192  # conservative guess for a model nobody described
DEFAULT_OUTPUT = 1024
OLLAMA_DEFAULT_WINDOW = 4096  # what Ollama runs a model with when nothing says otherwise


@dataclass(frozen=True)
class ModelInfo:
    name: str
    context_window: int
    max_output_tokens: int
    input_price: float | None  # USD per million tokens
    output_price: float | None
    assumed: bool  # not in any table: the window is a guess

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.input_price is None or self.output_price is None:
            return None
        return (prompt_tokens * self.input_price + completion_tokens * self.output_price) / 1e6


def _read_table(path: Path) -> dict[str, ModelOverride]:
    """The ``[models]`` tables of a TOML file, checked as the config file's are."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8")).get("models", {})
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        log.warning("model table %s ignored: %s", path, exc)
        return {}
    problems: list[str] = []
    table = model_overrides(raw, str(path), problems)
    for problem in problems:
        log.warning("%s", problem)
    return table


def _merge(base: ModelOverride | None, top: ModelOverride) -> ModelOverride:
    if base is None:
        return top
    given = {f.name: getattr(top, f.name) for f in fields(top) if getattr(top, f.name) is not None}
    return replace(base, **given)


def _canonical(model: str) -> str:
    """``/models/Llama-3.1-8B.Q4.gguf`` -> ``llama-3.1-8b.q4``; ``llama3.1:8b`` stays."""
    name = model.rsplit("/", 1)[-1].lower()
    return name.removesuffix(".gguf")


class ModelTable:
    """Shipped table < the user's models.toml < the config's ``[models]`` tables."""

    def __init__(self, settings: Settings, user_file: Path | None = None) -> None:
        table = _read_table(TABLE_FILE)
        layers = [_read_table(user_file) if user_file else {}, settings.models]
        for layer in layers:
            for name, entry in layer.items():
                table[name] = _merge(table.get(name), entry)
        self._table = table
        self._window_override = settings.context_window

    def lookup(self, model: str) -> ModelInfo:
        entry = self._table.get(model)
        if entry is None:
            name = _canonical(model)
            matches = [k for k in self._table if name.startswith(k.lower())]
            entry = self._table[max(matches, key=len)] if matches else None
        window = self._window_override or (entry and entry.context_window) or DEFAULT_WINDOW
        output = (entry and entry.max_output_tokens) or DEFAULT_OUTPUT
        return ModelInfo(
            name=model,
            context_window=window,
            max_output_tokens=min(output, window // 4),
            input_price=entry.input_price if entry else None,
            output_price=entry.output_price if entry else None,
            assumed=entry is None and self._window_override is None,
        )


# ---------------------------------------------------------------- the window the server says

_WINDOW_IN_ERROR = re.compile(
    r"(?:maximum context length is|context window of|n_ctx\D{0,4})\s*(\d{3,7})", re.IGNORECASE
)
_CONTEXT_ERROR = re.compile(
    r"context length|context size|context window|exceed_context|n_ctx", re.IGNORECASE
)


def window_in_error(text: str) -> int | None:
    """The window a server's context error names (0: it is one, but names none; None: not one).

    llama-cpp-python: "This model's maximum context length is 2048 tokens"; llama.cpp:
    "the request exceeds the available context size" (with ``n_ctx`` in the body); OpenAI's
    context_length_exceeded reads like the first.
    """
    if not _CONTEXT_ERROR.search(text):
        return None
    found = _WINDOW_IN_ERROR.search(text)
    return int(found.group(1)) if found else 0


async def served_window(client, base_url: str, model: str) -> int | None:
    """The context window the server runs the model with, where it says: llama.cpp's ``/props``
    (n_ctx), vLLM's ``max_model_len`` in ``/v1/models``, Ollama's ``/api/ps`` (a loaded model)
    or ``/api/show``. None when it does not say (llama-cpp-python's server, OpenAI) or cannot
    be asked.

    ``client``: an ``AsyncOpenAI`` with a short timeout and no retries.
    """
    import openai

    root = base_url.rstrip("/").removesuffix("/v1")
    for ask in (_llama_cpp, _vllm, _ollama_running, _ollama):
        try:
            window = await ask(client, root, model)
        except (openai.APIError, ValueError, TypeError, AttributeError) as exc:
            log.debug("%s: %s", ask.__name__, exc)
            continue
        if window:
            log.info("%s runs %s with a %d-token window", base_url, model, window)
            return window
    return None


async def _llama_cpp(client, root: str, model: str) -> int | None:
    props = await client.get(f"{root}/props", cast_to=object)
    n_ctx = props.get("default_generation_settings", {}).get("n_ctx") or props.get("n_ctx")
    return int(n_ctx) if n_ctx else None


async def _vllm(client, root: str, model: str) -> int | None:
    listed = await client.get(f"{root}/v1/models", cast_to=object)
    for entry in listed.get("data", []):
        if entry.get("id") == model and entry.get("max_model_len"):
            return int(entry["max_model_len"])
    return None


async def _ollama_running(client, root: str, model: str) -> int | None:
    """The window Ollama loaded the model with (``context_length`` in ``/api/ps``)."""
    running = await client.get(f"{root}/api/ps", cast_to=object)
    for entry in running.get("models", []):
        names = {entry.get("name"), entry.get("model")}
        if names & {model, f"{model}:latest"} and entry.get("context_length"):
            return int(entry["context_length"])
    return None


async def _ollama(client, root: str, model: str) -> int | None:
    """The Modelfile's ``num_ctx``; else Ollama's default window, within the model's own
    context length (``model_info``: ``<family>.context_length``) — Ollama loads a model with
    its default, not the length it was trained for, and cuts a longer prompt silently."""
    shown = await client.post(f"{root}/api/show", cast_to=object, body={"model": model})
    for line in str(shown.get("parameters", "")).splitlines():
        key, _, value = line.partition(" ")
        if key == "num_ctx":
            return int(value.strip())
    info = shown.get("model_info") or {}
    own = [int(v) for k, v in info.items() if k.endswith(".context_length") and v]
    return min(own[0], OLLAMA_DEFAULT_WINDOW) if own else None
