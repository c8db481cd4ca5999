"""Themes are data: TOML files in ``themes/`` (shipped) and the user's themes dir."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

log = logging.getLogger(__name__)
_FIELDS = {f.name for f in fields(Theme)}


def load_themes(*folders: Path) -> tuple[list[Theme], list[str]]:
    """Every ``*.toml`` theme in ``folders`` (later folders win), and what could not be read."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in folders:
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
                theme = Theme(**{k: v for k, v in data.items() if k in _FIELDS})
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, TypeError) as exc:
                problems.append(f"Theme {path} was not loaded: {exc}")
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems
