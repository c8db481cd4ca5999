"""``chatmem import legacy``: the first prototype's memories and chats into the profile."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chatmem.commands.common import writing

if TYPE_CHECKING:
    from chatmem.config import Settings


def run(settings: Settings, paths: list[str]) -> int:
    from chatmem.store.legacy import import_paths

    with writing(settings) as profile:
        report = import_paths([Path(p) for p in paths], profile)
    print("\n".join(report.lines()))
    return 0
