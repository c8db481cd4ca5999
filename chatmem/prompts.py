"""Every prompt the app sends is a file: the user's copy in the config dir wins."""

from __future__ import annotations

import logging
from pathlib import Path

from chatmem.paths import resource_dir

log = logging.getLogger(__name__)


def load_prompt(name: str, user_dir: Path) -> str:
    """``NAME.md`` from the user's prompts dir if they have one, else the shipped one."""
    for folder in (user_dir, resource_dir("prompts")):
        path = folder / f"{name}.md"
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        except UnicodeDecodeError as exc:
            log.warning("prompt %s is not UTF-8 (%s): the shipped one is used", path, exc)
    raise FileNotFoundError(f"prompt {name!r} is missing from the installation")
