"""Themes are data: TOML files in ``themes/`` (shipped) and the user's themes dir."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import fields
from pathlib import Path

from textual.color import ColorParseError
from textual.theme import Theme

log = logging.getLogger(__name__)
_FIELDS = {f.name for f in fields(Theme)}


def load_themes(*folders: Path, only: str = "") -> tuple[list[Theme], list[str]]:
    """Every ``*.toml`` theme in ``folders`` (later folders win), and what could not be read;
    ``only``: just the theme of that name (the others' colours are not checked)."""
    themes: dict[str, Theme] = {}
    problems: list[str] = []
    for folder in folders:
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
                if only and data.get("name") != only:
                    continue
                theme = _theme(data)
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, TypeError) as exc:
                problems.append(f"Theme {path} was not loaded: {exc}")
                continue
            except ColorParseError as exc:
                problems.append(f"Theme {path} was not loaded: a colour is wrong ({exc}).")
                continue
            themes[theme.name] = theme
    return list(themes.values()), problems


def _theme(data: dict) -> Theme:
    """A theme whose every colour parses (``TypeError`` for a value of the wrong type)."""
    values = {k: v for k, v in data.items() if k in _FIELDS}
    variables = values.get("variables", {})
    if not isinstance(values.get("name"), str) or not isinstance(variables, dict):
        raise TypeError("it needs a name, and variables (if any) as a table")
    if not all(isinstance(v, str) for v in variables.values()):
        raise TypeError("every variable must be a text")
    theme = Theme(**values)
    theme.to_color_system().generate()  # parses every colour now, not at first paint
    return theme
