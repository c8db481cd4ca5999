"""Every prompt the app sends is a file: the user's copy in the config dir wins."""

from __future__ import annotations

from pathlib import Path

from chatmem.paths import resource_dir


def load_prompt(name: str, user_dir: Path) -> str:
    """``NAME.md`` from the user's prompts dir if they have one, else the shipped one."""
    for folder in (user_dir, resource_dir("prompts")):
        try:
            return (folder / f"{name}.md").read_text(encoding="utf-8").strip()
        except OSError:
            continue
    raise FileNotFoundError(f"prompt {name!r} is missing from the installation")
