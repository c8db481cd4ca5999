"""A profile: one person's store, locked against a second app, upgraded step by step."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from chatmem.domain.ids import is_safe_id
from chatmem.store.atomic import (
    AtomicStorage,
    ForeignFile,
    StoreError,
    clean_stale_temps,
    move_aside,
    open_db,
    private_dir,
)
from chatmem.store.memories import MemoryStore
from chatmem.store.sessions import SessionStore

SCHEMA = 1
# MIGRATIONS[n] upgrades a profile from schema n to n + 1.
MIGRATIONS: dict[int, Callable[[Path], None]] = {}
# What a read-only profile lets through of each store.
_SESSION_READS = frozenset(
    {"get", "latest", "list", "summary", "recent", "messages", "before", "get_message"}
)
_MEMORY_READS = frozenset({"get", "memories", "load", "notices"})


class ProfileLocked(StoreError):
    """Another chatmem is using this profile."""


class ProfileMissing(StoreError):
    """A read-only open of a profile that holds nothing yet."""


class ReadOnly(StoreError):
    """A write asked of a profile opened read-only."""


class _Reads:
    """A store through its reading methods only."""

    def __init__(self, store: Any, reads: frozenset[str]) -> None:
        self._store = store
        self._reads = reads

    def __getattr__(self, name: str) -> Any:
        if name not in self._reads:
            raise ReadOnly(f"The profile was opened read-only: {name} is refused.")
        return getattr(self._store, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._store)

    def __len__(self) -> int:
        return len(self._store)


class Profile:
    def __init__(
        self,
        root: Path,
        lock_fd: int,
        notices: list[str],
        readonly: bool = False,
        later: bool = False,
    ) -> None:
        self.root = root
        self._lock_fd = lock_fd
        self.notices = notices
        self.sessions = SessionStore(root, notices, readonly)
        self.memories = MemoryStore(root, notices, readonly)
        if not later:  # the memories are read now (the worker reads them in a thread)
            self.memories.load()
        if readonly:  # the same reads; writes raise ``ReadOnly``
            self.sessions = cast(SessionStore, _Reads(self.sessions, _SESSION_READS))
            self.memories = cast(MemoryStore, _Reads(self.memories, _MEMORY_READS))

    @classmethod
    def open(
        cls,
        data_dir: Path,
        name: str,
        schema: int = SCHEMA,
        migrations: dict[int, Callable[[Path], None]] | None = None,
        readonly: bool = False,
        later: bool = False,
    ) -> Profile:
        """Lock and open the profile (made if new), upgraded to ``schema``.

        ``readonly``: no lock (another chatmem may have it), nothing created, upgraded or
        cleaned up, and the stores refuse writes; ``ProfileMissing`` if nothing is stored yet.
        ``later``: the memories are read at first use (``MemoryStore.load``), not now.
        """
        if not is_safe_id(name):
            raise StoreError(
                f"{name!r} is not a valid profile name: use letters, digits, '.', '-' and '_'."
            )
        if readonly:
            return cls._open_readonly(Path(data_dir) / "profiles" / name, name, schema, later)
        root = private_dir(Path(data_dir) / "profiles" / name)
        fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ProfileLocked(
                f"Profile {name!r} is open in another chatmem. Close that one first, or start "
                f"this one with another profile (--profile NAME)."
            ) from None
        try:
            notices: list[str] = []
            clean_stale_temps(root)
            _upgrade(root, schema, MIGRATIONS if migrations is None else migrations, notices)
            return cls(root, fd, notices, later=later)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def _open_readonly(cls, root: Path, name: str, schema: int, later: bool) -> Profile:
        version = AtomicStorage(root / "profile.json", "profile", schema).file_schema
        if version is None:
            raise ProfileMissing(f"Profile {name!r} holds nothing yet.")
        if version < schema:
            raise StoreError(
                f"Profile {name!r} was made by an older chatmem: open it once in the app, "
                "or run a command that changes it, to upgrade it."
            )
        return cls(root, -1, [], readonly=True, later=later)

    @staticmethod
    def names(data_dir: Path) -> list[str]:
        """The profiles stored under ``data_dir``, sorted."""
        root = Path(data_dir) / "profiles"
        found = root.iterdir() if root.is_dir() else ()
        return sorted(d.name for d in found if d.is_dir() and is_safe_id(d.name))

    def close(self) -> None:
        """Write what is pending and release the lock (read-only: nothing to do)."""
        if self._lock_fd >= 0:
            self.sessions.close()
            self.memories.close()
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = -1

    def __enter__(self) -> Profile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _upgrade(
    root: Path, schema: int, migrations: dict[int, Callable[[Path], None]], notices: list[str]
) -> None:
    """Run each step from the profile's schema up to ``schema``, recording progress."""
    path = root / "profile.json"
    try:
        db = open_db(path, "profile", schema)
    except ForeignFile:
        moved = move_aside(path)
        notices.append(f"{path} was not a chatmem profile file and was moved to {moved}.")
        db = open_db(path, "profile", schema)
    storage = db.storage
    assert isinstance(storage, AtomicStorage)
    version = storage.file_schema
    if version is None:  # a new profile
        db.table("profile").insert({"created_schema": schema})
        db.close()
        return
    while version < schema:
        migrations[version](root)
        version += 1
        storage.schema = version  # stamp each step: a crash mid-way resumes from there
        db.table("profile").upsert({"migrated_to": version}, lambda doc: True)
    db.close()
