"""Reading the files the user imports: one size guard for the app and the headless commands."""

from __future__ import annotations

import sys
from pathlib import Path

from chatmem.domain.records import MAX_FILE
from chatmem.services.errors import Unreadable


def read_export(name: str) -> str:
    """The text of an export to import (``-``: stdin), refused past ``MAX_FILE`` before it is
    read; ``Unreadable`` says why."""
    too_big = Unreadable(
        f"Could not import {name}: larger than {MAX_FILE // 2**20} MB; nothing was imported."
    )
    if name == "-":
        text = sys.stdin.read(MAX_FILE + 1)
        if len(text) > MAX_FILE:
            raise too_big
        return text
    path = Path(name).expanduser()
    try:
        if path.stat().st_size > MAX_FILE:
            raise too_big
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise Unreadable(f"Could not read {name}: {exc.strerror}.") from None
