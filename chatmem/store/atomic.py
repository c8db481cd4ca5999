"""TinyDB storage that parses a file once, serves reads from memory, and writes atomically."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import MemoryStorage, Storage

from chatmem.domain.tokens import clean_text
from chatmem.paths import private_dir, write_private

MARKER = "_chatmem"


class StoreError(Exception):
    """The store cannot be used as asked; the message says why in plain words."""


class ForeignFile(StoreError):
    """Not valid JSON, or JSON that is not a chatmem file of the expected kind."""


class NewerSchema(StoreError):
    """Written by a newer chatmem than this one."""


class AtomicStorage(Storage):
    """One JSON file, kept parsed in memory; each write replaces the file atomically (0600)."""

    def __init__(self, path: Path, kind: str, schema: int) -> None:
        self.path = Path(path)
        self.kind = kind
        self.schema = schema
        self.file_schema: int | None = None
        self._data: dict[str, Any] | None = self._load()

    def _load(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        if not raw.strip():
            return None
        try:
            data = json.loads(raw)
            marker = data[MARKER]["1"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ForeignFile(f"{self.path} is not a chatmem {self.kind} file") from exc
        if not isinstance(marker, dict) or marker.get("format") != "chatmem":
            raise ForeignFile(f"{self.path} is not a chatmem {self.kind} file")
        if marker.get("kind") != self.kind:
            raise ForeignFile(
                f"{self.path} holds a chatmem {marker.get('kind')}, not a {self.kind}"
            )
        self.file_schema = int(marker.get("schema", 0))
        if self.file_schema > self.schema:
            raise NewerSchema(
                f"{self.path} was made by a newer chatmem (schema {self.file_schema}; "
                f"this one knows {self.schema}). Upgrade chatmem to open it."
            )
        if not all(_is_table(table) for table in data.values()):
            raise ForeignFile(f"{self.path} is not shaped like a chatmem {self.kind} file")
        return data

    def read(self) -> dict[str, Any] | None:
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        data[MARKER] = {"1": {"format": "chatmem", "kind": self.kind, "schema": self.schema}}
        try:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            raw = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate slipped in: store U+FFFD in its place
            raw = clean_text(json.dumps(data, ensure_ascii=False, separators=(",", ":"))).encode()
        try:
            write_private(self.path, raw)
        except BaseException as exc:
            self._data = self._load()  # TinyDB changed ``data`` (our own dict) in place
            if isinstance(exc, OSError):  # named for the file, not its temp (or no name)
                raise OSError(exc.errno, exc.strerror, str(self.path)) from exc
            raise
        self._data = data
        self.file_schema = self.schema


def disk_problem(exc: OSError) -> str:
    """An ``OSError`` in plain words with the path and the errno: "PATH: No space left on
    device (ENOSPC)"."""
    code = errno.errorcode.get(exc.errno or 0, "")
    what = f"{exc.strerror or exc}{f' ({code})' if code else ''}"
    return f"{exc.filename}: {what}" if exc.filename else what


def _is_table(table: Any) -> bool:
    """A TinyDB table: documents (objects) under numeric ids."""
    return isinstance(table, dict) and all(
        isinstance(doc, dict) and key.isdigit() for key, doc in table.items()
    )


def open_db(path: Path, kind: str, schema: int) -> TinyDB:
    """A TinyDB on an ``AtomicStorage`` (raises ``ForeignFile`` / ``NewerSchema``)."""
    return TinyDB(path, kind, schema, storage=AtomicStorage)


def open_or_set_aside(
    path: Path, kind: str, schema: int, notices: list[str], consequence: str, readonly: bool
) -> tuple[TinyDB, bool]:
    """Open a store file, and whether it starts empty because it was unreadable. An unreadable
    file is moved aside, never overwritten; a read-only open leaves it for the app and reads
    it as empty."""
    try:
        return open_db(path, kind, schema), False
    except ForeignFile:
        if readonly:
            notices.append(
                f"{path} is unreadable; {consequence} "
                "The app sets it aside when it next opens this profile."
            )
            return TinyDB(storage=MemoryStorage), True
        moved = move_aside(path)
        notices.append(f"{path} was unreadable and was moved to {moved}; {consequence}")
        return open_db(path, kind, schema), True


def move_aside(path: Path) -> Path:
    """Rename a bad file to ``NAME.corrupt-YYYYmmdd-HHMMSS[-n]``, never overwriting anything."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.rename(path, target)
    return target


def clean_stale_temps(root: Path) -> int:
    """Delete temp files a crash left behind (``.NAME.PID.tmp``); returns how many."""
    removed = 0
    for tmp in root.rglob(".*.tmp"):
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            pass
    return removed


__all__ = [
    "AtomicStorage",
    "ForeignFile",
    "NewerSchema",
    "StoreError",
    "clean_stale_temps",
    "disk_problem",
    "move_aside",
    "open_db",
    "open_or_set_aside",
    "private_dir",
]
