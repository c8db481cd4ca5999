"""The profile service: a profile opened with its memory and session services, for writing,
or else to read with the reason it cannot be written."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chatmem.services.errors import ServiceError
from chatmem.services.memories import MemoryService, open_profile
from chatmem.services.sessions import SessionService
from chatmem.store.atomic import StoreError, disk_problem
from chatmem.store.profile import Profile, ReadOnly

log = logging.getLogger(__name__)


class Unopenable(ServiceError):
    """The profile cannot be opened as asked: ``str()`` is the problem, ``reason`` the
    sentence a read-only profile shows."""

    level = "error"

    def __init__(self, exc: OSError | StoreError) -> None:
        problem = disk_problem(exc) if isinstance(exc, OSError) else str(exc)
        super().__init__(problem)
        self.reason = (
            f"The profile cannot be written: {problem}." if isinstance(exc, OSError) else problem
        )


def storage_problem(exc: OSError | StoreError, readonly: str = "") -> str:
    """Why a write failed, for the user (``readonly``: why the profile is open read-only)."""
    if isinstance(exc, ReadOnly) and readonly:
        return f"Nothing can be saved: {readonly}"
    if isinstance(exc, OSError):
        return f"Could not save: {disk_problem(exc)}."
    return str(exc)


@dataclass
class OpenProfile:
    """A profile open with its services; ``readonly`` says why it cannot be written ("":
    it can)."""

    profile: Profile
    memory: MemoryService
    sessions: SessionService
    readonly: str = ""

    @property
    def name(self) -> str:
        return self.profile.root.name

    def close(self) -> None:
        self.memory.close()
        self.profile.close()


def open_writable(data_dir: str | Path, name: str, clock: Callable[[], float]) -> OpenProfile:
    """Open the profile for writing (made if new); ``Unopenable`` if it cannot be (locked by
    another chatmem, a read-only or foreign-owned folder, a newer schema)."""
    try:
        profile, memory = open_profile(Path(data_dir), name, clock)
    except (OSError, StoreError) as exc:
        raise Unopenable(exc) from exc
    return OpenProfile(profile, memory, SessionService(profile, memory))


def open_any(data_dir: str | Path, name: str, clock: Callable[[], float]) -> OpenProfile:
    """Open the profile for writing, or else to read, saying why; ``Unopenable`` if it
    cannot even be read (its message says both)."""
    try:
        return open_writable(data_dir, name, clock)
    except Unopenable as refused:
        reason = refused.reason
    log.warning("profile opened read-only: %s", reason)
    try:
        profile, memory = open_profile(Path(data_dir), name, clock, readonly=True)
    except (OSError, StoreError) as exc:
        problem = str(Unopenable(exc))
        raise ServiceError(f"{reason} It cannot be read either: {problem}", "error") from exc
    return OpenProfile(profile, memory, SessionService(profile, memory), reason)
