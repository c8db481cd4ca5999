"""``chatmem sessions``: list, show, export, import and delete stored conversations."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from chatmem.commands.common import (
    USAGE,
    Failure,
    find,
    reading,
    sessions_of,
    when,
    write_output,
    writing,
)

if TYPE_CHECKING:
    from chatmem.config import Settings
    from chatmem.domain.sessions import SessionInfo
    from chatmem.store.profile import Profile

LISTING = "chatmem sessions list"
# What `sessions list --json` prints of each session, in this order: the command's output
# format, not whatever fields the record has.
LISTED = ("id", "title", "created", "message_count", "updated", "tokens")


def listed(info: SessionInfo) -> dict[str, Any]:
    """A session as ``sessions list --json`` prints it."""
    return {key: getattr(info, key) for key in LISTED}


def run(args: argparse.Namespace, settings: Settings) -> int:
    handler = {
        "list": list_sessions,
        "show": show,
        "export": export,
        "import": import_file,
        "rm": remove,
    }[args.action]
    return handler(args, settings)


def _get(profile: Profile | None, wanted: str) -> SessionInfo:
    """The session with that id, or the only one whose id starts with it."""
    exact = profile.sessions.get(wanted) if profile is not None else None
    if exact is not None:
        return exact
    sessions = {s.id: s for s in profile.sessions.list()} if profile is not None else {}
    return sessions[find(sessions, wanted, "session", LISTING)]


def list_sessions(args: argparse.Namespace, settings: Settings) -> int:
    with reading(settings) as profile:
        sessions = profile.sessions.list() if profile is not None else []
    if args.json:
        print(json.dumps([listed(s) for s in sessions], ensure_ascii=False, indent=1))
        return 0
    if not sessions:
        return 0
    width = max(len(s.id) for s in sessions)
    print(f"{'ID':<{width}}  {'LAST USED':<16}  {'MESSAGES':>8}  {'TOKENS':>9}  TITLE")
    for s in sessions:
        title = s.title or "Untitled conversation"
        print(
            f"{s.id:<{width}}  {when(s.updated or s.created)}  {s.message_count:>8,}  "
            f"{s.tokens:>9,}  {title}"
        )
    return 0


def _render(settings: Settings, wanted: str, as_json: bool) -> str:
    with reading(settings) as profile:
        info = _get(profile, wanted)
        assert profile is not None  # else there was no session to find
        text = sessions_of(profile).render(info.id, as_json)
    return text if as_json else text + "\n"


def show(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(_render(settings, args.id, as_json=False))
    return 0


def export(args: argparse.Namespace, settings: Settings) -> int:
    fmt = args.format or ("json" if (args.output or "").lower().endswith(".json") else "md")
    write_output(args.output, _render(settings, args.id, as_json=fmt == "json"))
    if args.output and args.output != "-":
        print(f"Exported to {args.output}.")
    return 0


def import_file(args: argparse.Namespace, settings: Settings) -> int:
    from chatmem.services.sessions import read_session

    session = read_session(args.file)  # the app's checks and size guard, before any write
    with writing(settings) as profile:
        info = sessions_of(profile).import_session(session)
    title = info.title or "Untitled conversation"
    print(f"Imported “{title}” as {info.id} ({info.message_count:,} messages).")
    return 0


def remove(args: argparse.Namespace, settings: Settings) -> int:
    with writing(settings) as profile:
        info = _get(profile, args.id)
        service = sessions_of(profile)
        learnt = service.memory.learnt_in(info.id) if args.with_memories else []
        title = info.title or "Untitled conversation"
        also = f" and the {len(learnt):,} memories learnt in it" if learnt else ""
        if not args.yes:
            _confirm(f"Delete “{title}” ({info.message_count:,} messages){also}?")
        service.delete(info.id, args.with_memories)
    print(f"Deleted “{title}”{also}.")
    return 0


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise Failure("sessions rm asks first: add --yes to delete without asking.", USAGE)
    if input(f"{question} [y/N] ").strip().casefold() not in ("y", "yes"):
        raise Failure("Nothing was deleted.")
