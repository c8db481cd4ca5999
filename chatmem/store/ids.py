"""Ids checked before they name a file or folder of the store (the pattern is
``domain.ids``)."""

from __future__ import annotations

from chatmem.domain.ids import is_safe_id
from chatmem.store.atomic import StoreError


class BadId(StoreError):
    """An id that cannot name a file: it could reach outside the store."""


def checked_id(value: str) -> str:
    """``value``, or ``BadId`` if it cannot name a file."""
    if not is_safe_id(value):
        raise BadId(f"{value!r} is not a usable id")
    return value
