"""The config file written: settings saved from the app, edited in place (``chatmem.config``
declares and reads them)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from chatmem.domain.tokens import clean_text
from chatmem.paths import private_dir, write_private
from chatmem.store.atomic import move_aside


def save_settings(path: Path, values: Mapping[str, str | int | float | bool]) -> None:
    """Set these top-level keys in the config file, edited in place: its comments, layout and
    other keys stay. A symlink is written through to the file it points at; only that file's
    mode is set (0600, it may hold a key), never its folder's, unless chatmem makes it."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    target = path.resolve()
    try:
        document = tomlkit.parse(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        document = tomlkit.document()
    except (UnicodeDecodeError, TOMLKitError):
        move_aside(target)  # unreadable: kept beside, never overwritten
        document = tomlkit.document()
    for key, value in values.items():
        _set(document, key, clean_text(value) if isinstance(value, str) else value)
    if not target.parent.is_dir():
        private_dir(target.parent)
    write_private(target, tomlkit.dumps(document), private_parent=False)


def _set(document, key: str, value: object) -> None:
    """Set a top-level key of a tomlkit document; a new one goes after the last top-level
    key there is, not after the comment that heads the first table."""
    from tomlkit.items import AoT, Table

    if key in document:
        document[key] = value
        return
    plain = [
        n for n, (k, item) in enumerate(document.body) if k and not isinstance(item, Table | AoT)
    ]
    if plain and plain[-1] + 1 < len(document.body):
        document._insert_at(plain[-1] + 1, key, value)  # tomlkit has no public insert
    else:
        document[key] = value
