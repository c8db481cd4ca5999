"""The one pattern a name must match before it names a file or folder of the store: session
ids, profile names, and every id an import brings that may become one."""

from __future__ import annotations

import hashlib
import re

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_safe_id(value: object) -> bool:
    """Letters, digits, '.', '-' and '_' (never '..' nor a slash), at most 64 characters,
    starting with a letter or digit."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None and ".." not in value


def safe_id(prefix: str, original: str) -> str:
    """``prefix`` + ``original`` if that is a usable id, else ``prefix`` + a digest of it
    (the same original always gives the same id)."""
    candidate = prefix + original
    if is_safe_id(candidate):
        return candidate
    return prefix + hashlib.sha1(original.encode("utf-8", "surrogatepass")).hexdigest()[:16]
