"""Records from outside the app (import files, documents found in the store) checked before
anything is written: one module per record kind, shared by every importer. A problem names
the record and the field; the importer adds the file."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from typing import Any

from chatmem.domain.ids import is_safe_id

MAX_FILE = 200 * 1024 * 1024  # bytes: a larger import file is not one
MAX_TEXT = 1_000_000  # characters of one message or one memory field
MAX_TIME = 32_503_680_000.0  # 3000-01-01: a time past it is not one
MAX_COUNT = 10**12
_MISSING = object()


class RecordProblem(ValueError):
    """A record that is not what it should be; the message names the record and the field."""


def load_json(text: str | bytes) -> Any:
    """Parsed JSON, or ``RecordProblem`` (nesting too deep is a problem too, not a crash)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise RecordProblem("not JSON this app reads (nested too deeply)") from None
    except ValueError as exc:
        raise RecordProblem(f"not JSON ({exc})") from None


class Reader:
    """The fields of one JSON object, each checked for its type and range."""

    def __init__(self, doc: Any, where: str) -> None:
        if not isinstance(doc, dict):
            raise RecordProblem(f"{where} is not a JSON object")
        self.doc = doc
        self.where = where

    def problem(self, key: str, what: str) -> RecordProblem:
        return RecordProblem(f"{self.where}: {key} {what}")

    def _get(self, key: str, default: Any) -> Any:
        value = self.doc.get(key)
        if value is None:
            if default is _MISSING:
                raise self.problem(key, "is missing")
            return default
        return value

    def text(self, key: str, default: Any = _MISSING, limit: int = MAX_TEXT) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self.problem(key, f"is {_shown(value)}, not text")
        if len(value) > limit:
            raise self.problem(key, f"is {len(value):,} characters long (at most {limit:,})")
        return value

    def time(self, key: str, default: Any = _MISSING) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.problem(key, f"is {_shown(value)}, not a time in seconds")
        if not (math.isfinite(value) and 0 <= value < MAX_TIME):
            raise self.problem(key, f"is {_shown(value)}, not a time between 1970 and 3000")
        return float(value)

    def count(self, key: str, default: Any = 0) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            raise self.problem(key, f"is {_shown(value)}, not a whole number")
        return value

    def flag(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.problem(key, f"is {_shown(value)}, not true or false")
        return value

    def choice(self, key: str, options: Collection[str], default: Any = _MISSING) -> str:
        value = self._get(key, default)
        if value not in options:
            raise self.problem(key, f"is {_shown(value)}, not one of {', '.join(options)}")
        return value

    def id(self, key: str, default: Any = _MISSING) -> str:
        """An id that may name a file ("" when ``default`` is "" and none is given)."""
        value = self._get(key, default)
        if value == "" and default == "":
            return ""
        if not is_safe_id(value):
            raise self.problem(key, f"is {_shown(value)}, not an id (letters, digits, . - _)")
        return value

    def items(self, key: str, default: Any = _MISSING) -> list:
        value = self._get(key, default)
        if not isinstance(value, list):
            raise self.problem(key, f"is {_shown(value)}, not a list")
        return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
