"""The one sanitizing edge for text from outside (model replies, titles, memories, files,
server errors) before it reaches a widget or stdout: no terminal control sequence survives.

Every C0 and C1 control except newline and tab is made visible: C0 controls as their Unicode
control pictures (ESC becomes ␛), DEL and the C1 controls as ``\\u009b``-style escapes (which
also keeps JSON valid and exact); a carriage return is dropped (``\\r\\n`` becomes ``\\n``).
The mapping is per character, so a streamed reply cleaned piece by piece reads the same as the
whole reply cleaned at once.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

_VISIBLE = {
    **{c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)},
    0x0D: None,
    **{c: f"\\u{c:04x}" for c in range(0x7F, 0xA0)},
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """``text`` with every control but newline and tab made visible (or dropped: CR)."""
    if text.isprintable() or not _CONTROL.search(text):  # most are: ids, names, one-liners
        return text
    return text.translate(_VISIBLE)


def clean(value: T) -> T:
    """``value`` with every string in it made ``visible``: a string, or frozen dataclasses,
    tuples, lists and dicts of them (a protocol event), rebuilt only where something changed."""
    return _clean(value)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, tuple | list):
        items = [_clean(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, dict):
        entries = {_clean(k): _clean(v) for k, v in value.items()}
        return value if entries == value else entries
    names = _fields(value.__class__)
    if names:
        changed = {}
        for name in names:
            old = getattr(value, name)
            new = _clean(old)
            if new is not old:
                changed[name] = new
        return dataclasses.replace(value, **changed) if changed else value
    return value


@functools.cache
def _fields(cls: type) -> tuple[str, ...]:
    """The fields a dataclass is made with; none for any other type."""
    if not dataclasses.is_dataclass(cls):
        return ()
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


class VisibleStream:
    """A text stream that writes through ``visible`` (after ``then``, if given): what the
    headless commands print."""

    def __init__(self, stream: TextIO, then: Callable[[str], str] | None = None) -> None:
        self._stream = stream
        self._then = then

    def write(self, text: str) -> int:
        self._stream.write(visible(self._then(text) if self._then else text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
