"""Every prompt the app sends is a file: the user's copy in the config dir wins."""

from __future__ import annotations

from pathlib import Path

from chatmem.paths import resource_dir


def load_prompt(name: str, config_dir: Path) -> str:
    """``prompts/NAME.md`` from the config dir if the user has one, else the shipped one."""
    for folder in (config_dir / "prompts", resource_dir("prompts")):
        try:
            return (folder / f"{name}.md").read_text(encoding="utf-8").strip()
        except OSError:
            continue
    raise FileNotFoundError(f"prompt {name!r} is missing from the installation")
