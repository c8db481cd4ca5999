"""What the headless commands share: failures with exit codes, opening the profile, output."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatmem.config import Settings
    from chatmem.services.memories import MemoryService
    from chatmem.services.sessions import SessionService
    from chatmem.store.profile import Profile

USAGE = 2  # exit code of a command asked wrongly (as argparse's own errors)


class Failure(Exception):
    """The command cannot do what was asked: ``str()`` is the line for stderr."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def warn(lines: Iterable[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)


@contextmanager
def reading(settings: Settings) -> Iterator[Profile | None]:
    """The profile, read-only (the app may hold it); None if nothing is stored yet."""
    with _opened(settings, readonly=True) as profile:
        yield profile


@contextmanager
def writing(settings: Settings) -> Iterator[Profile]:
    """The profile, locked for writing (made if new)."""
    with _opened(settings, readonly=False) as profile:
        assert profile is not None  # opening it for writing makes it
        yield profile


@contextmanager
def _opened(settings: Settings, readonly: bool) -> Iterator[Profile | None]:
    from chatmem.store.atomic import StoreError, disk_problem
    from chatmem.store.profile import Profile, ProfileMissing

    try:
        profile = Profile.open(Path(settings.data_dir), settings.profile, readonly=readonly)
    except ProfileMissing:
        profile = None
    except StoreError as exc:  # locked, not ours, made by a newer chatmem…
        raise Failure(str(exc)) from None
    except OSError as exc:  # a read-only or full disk, a folder not ours
        raise Failure(f"Cannot open profile {settings.profile!r}: {disk_problem(exc)}.") from None
    if profile is None:
        yield None
        return
    warn(profile.notices)
    try:
        with profile:
            yield profile
    except StoreError as exc:
        raise Failure(str(exc)) from None
    except OSError as exc:
        raise Failure(f"Could not save: {disk_problem(exc)}.") from None


def memories_of(profile: Profile) -> MemoryService:
    """The memory service on the profile's store, without the recall indexes (a command
    changes a memory or two: it needs the rules, not the search)."""
    import time

    from chatmem.services.memories import MemoryService

    return MemoryService(profile.memories, profile.sessions, time.time)


def sessions_of(profile: Profile) -> SessionService:
    from chatmem.services.sessions import SessionService

    return SessionService(profile, memories_of(profile))


def find(ids: Iterable[str], wanted: str, noun: str, listing: str) -> str:
    """The id that is ``wanted`` or the only one starting with it."""
    ids = list(ids)
    if wanted in ids:
        return wanted
    matches = [i for i in ids if i.startswith(wanted)] if wanted else []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise Failure(f"{wanted!r} starts {len(matches)} {noun} ids: give more of it.")
    raise Failure(f"No {noun} has the id {wanted!r}; `{listing}` shows them.")


def when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def write_output(name: str | None, text: str) -> None:
    """``text`` to file ``name``, or to stdout when there is none."""
    if not name or name == "-":
        sys.stdout.write(text)
        return
    from chatmem.paths import write_private

    path = Path(name).expanduser()
    try:
        write_private(path, text, private_parent=False)
    except OSError as exc:
        raise Failure(f"Could not write {path}: {exc.strerror}.") from None
