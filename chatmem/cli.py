"""Command line: ``chatmem`` opens the app; subcommands work without it (no Textual)."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chatmem import __version__

ADDABLE = ("person", "event", "fact")  # journal entries are written from their session
ID: dict[str, Any] = {"metavar": "ID", "help": "its id (or the start of it)"}


def parser(memory_fields: bool = True, commands: bool = True) -> argparse.ArgumentParser:
    """The command line; ``memory_fields``: with the ``--FIELD`` options of ``memories add``
    and ``edit`` (they import the memory kinds, which opening the app does not need);
    ``commands``: with the commands' own arguments (a few ms to build, not needed to parse a
    command line that names no command)."""
    ap = argparse.ArgumentParser(prog="chatmem", description="A terminal chat that remembers you.")
    ap.add_argument("--version", action="version", version=f"chatmem {__version__}")
    ap.add_argument("--model", help="model name (overrides CHATMEM_MODEL and the config)")
    ap.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://localhost:11434/v1")
    ap.add_argument("--profile", help="a separate store of sessions and memories")
    ap.add_argument("--new", action="store_true", help="start a new session instead of resuming")
    # The global options, also taken after a subcommand (given there, they win).
    profile = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    profile.add_argument("--profile", help="a separate store of sessions and memories")
    server = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    server.add_argument("--model", help="model name")
    server.add_argument("--base-url", help="OpenAI-compatible server")

    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("paths", help="print every path chatmem uses")
    imp = sub.add_parser("import", help="import data from elsewhere", parents=[profile])
    ask = sub.add_parser(
        "ask",
        parents=[profile, server],
        help="ask one question; the reply streams to stdout",
        description="One exchange, stored in a new session, with memory as in the app: what "
        "is relevant is recalled into the request, and what it taught is remembered. Exits 1 "
        "with a one-line error on stderr if there is no reply.",
    )
    memories = sub.add_parser("memories", help="list, show, add, edit, rm, pin, export, import")
    sessions = sub.add_parser("sessions", help="list, show, export, import, rm")
    if not commands:
        return ap
    imp.add_argument("source", choices=["legacy"], help="legacy: the first prototype's files")
    imp.add_argument("paths", nargs="+", help="memories.json and/or chat.json")
    ask.add_argument("question", nargs="?", help='the question (none or "-": read from stdin)')
    ask.add_argument("--no-memory", action="store_true", help="recall nothing, learn nothing")
    actions = memories.add_subparsers(dest="action", metavar="ACTION", required=True)
    _memories(actions, profile, memory_fields)
    _sessions(sessions.add_subparsers(dest="action", metavar="ACTION", required=True), profile)
    return ap


def _memories(
    sub: argparse._SubParsersAction, profile: argparse.ArgumentParser, fields: bool
) -> None:
    def action(name: str, help: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[profile], **kwargs)

    as_json: dict[str, Any] = {"action": "store_true", "help": "print the whole record as JSON"}
    ls = action(
        "list",
        "every live memory, the latest first: id, type, last change, title",
        epilog="Filters, as in the browser: words, type:KIND, pinned, superseded, "
        "after:DATE, before:DATE.",
    )
    ls.add_argument("filter", nargs="*", help="words and filters every memory listed matches")
    ls.add_argument("--all", action="store_true", help="superseded memories too")
    ls.add_argument("--json", action="store_true", help="one JSON array of whole records")
    show = action("show", "one memory: its text, fields, where it was learnt, its history")
    show.add_argument("id", **ID)
    show.add_argument("--json", **as_json)
    add = action(
        "add",
        "remember something",
        epilog='e.g. chatmem memories add fact "Alice plays cello"; '
        "chatmem memories add person Alice --relation sister",
    )
    add.add_argument("type", choices=ADDABLE, help="what it is")
    add.add_argument("text", metavar="TEXT", help="a person's name; what happened; the fact")
    if fields:
        _field_options(add, editing=False)
    add.add_argument("--json", **as_json)
    edit = action("edit", "change the given fields of a memory (its old version is kept)")
    edit.add_argument("id", **ID)
    if fields:
        _field_options(edit, editing=True)
    edit.add_argument("--json", **as_json)
    action("rm", "forget a memory").add_argument("id", **ID)
    pin = action("pin", "put a memory in every request (--off: no longer)")
    pin.add_argument("id", **ID)
    pin.add_argument("--off", action="store_true", help="unpin it")
    action("unpin", "the same as pin --off").add_argument("id", **ID)
    export = action(
        "export", "every memory, superseded ones and history included, as one JSON file"
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write it here (default: stdout)")
    imp = action(
        "import",
        "add the memories of an export (or of list --json); ids already stored are skipped",
    )
    imp.add_argument("file", help='the file ("-": stdin)')
    imp.add_argument("--replace", action="store_true", help="overwrite ids already stored")


def _field_options(ap: argparse.ArgumentParser, editing: bool) -> None:
    """``--FIELD VALUE`` for each field of the memory form (``domain.memories.FORM``)."""
    from chatmem.domain.memories import FORM

    kinds: dict[str, list[str]] = {}
    for kind in ADDABLE:
        for n, (key, label, hint) in enumerate(FORM[kind]):
            if editing or n:  # the main field, first, is add's TEXT
                shown = f"{kind}: {label}" + (f" — {hint}" if hint != "required" else "")
                kinds.setdefault(key, []).append(shown.removesuffix(" — "))
    group = ap.add_argument_group("fields", "written as in the memory browser's form")
    for key, labels in kinds.items():
        group.add_argument(f"--{key}", dest=f"field_{key}", metavar="TEXT", help="; ".join(labels))


def _sessions(sub: argparse._SubParsersAction, profile: argparse.ArgumentParser) -> None:
    def action(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[profile])

    ls = action("list", "every session, the latest first: id, last used, messages, tokens, title")
    ls.add_argument("--json", action="store_true", help="one JSON array of sessions")
    action("show", "a session as Markdown").add_argument("id", **ID)
    export = action("export", "a session as Markdown or JSON (which import reads back)")
    export.add_argument("id", **ID)
    export.add_argument(
        "--format", choices=["md", "json"], help="default: json for a FILE ending in .json, else md"
    )
    export.add_argument("-o", "--output", metavar="FILE", help="write it here (default: stdout)")
    imp = action("import", "add a session from its JSON export (a copy if its id is taken)")
    imp.add_argument("file", help='the file ("-": stdin)')
    rm = action("rm", "delete a session (asks first)")
    rm.add_argument("id", **ID)
    rm.add_argument("--with-memories", action="store_true", help="and the memories learnt in it")
    rm.add_argument("-y", "--yes", action="store_true", help="do not ask")


def main(argv: list[str] | None = None) -> int:
    # Starting makes many objects and little garbage: no collection until the app's first
    # frame (the app turns it back on), ~10% of the start-up's CPU time.
    gc.disable()
    try:
        argv = sys.argv[1:] if argv is None else argv
        commands = not {"paths", "import", "ask", "memories", "sessions"}.isdisjoint(argv)
        args = parser(memory_fields="memories" in argv, commands=commands).parse_args(argv)
        from chatmem.config import load_settings

        flags = {"model": args.model, "base_url": args.base_url, "profile": args.profile}
        settings, problems = load_settings(flags)
        if args.command is None:
            return run_app(settings, problems, args.new)
    finally:
        gc.enable()
    with visible_output(settings.api_key):
        return headless(args, settings, problems)


@contextmanager
def visible_output(api_key: str) -> Iterator[None]:
    """What the headless commands print passes the sanitizing edge: no control sequence
    reaches the terminal, and no secret reaches stderr."""
    from chatmem.logs import redact, register_secret
    from chatmem.text import VisibleStream

    if api_key:
        register_secret(api_key)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = VisibleStream(out), VisibleStream(err, redact)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err


def headless(args: argparse.Namespace, settings, problems: list[str]) -> int:
    from chatmem.commands.common import USAGE, Failure
    from chatmem.paths import resolve_paths
    from chatmem.services.errors import Invalid, ServiceError

    if args.command == "paths":
        for label, path in resolve_paths().describe():
            print(f"{label:<14} {path}")
        return 0
    try:
        return dispatch(args, settings, problems)
    except Failure as exc:
        print(exc, file=sys.stderr)
        return exc.code
    except ServiceError as exc:  # refused by the rules the app has too
        print(exc, file=sys.stderr)
        return USAGE if isinstance(exc, Invalid) else 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def dispatch(args: argparse.Namespace, settings, problems: list[str]) -> int:
    """Run a headless command: each module imports what it needs when it runs."""
    if args.command == "ask":
        from chatmem.commands import ask

        return ask.run(args, settings, problems)
    if args.command == "memories":
        from chatmem.commands import memories

        return memories.run(args, settings)
    if args.command == "sessions":
        from chatmem.commands import sessions

        return sessions.run(args, settings)
    from chatmem.commands import legacy

    return legacy.run(settings, args.paths)


def run_app(settings, problems: list[str], new_session: bool) -> int:
    from chatmem.ui.link import SubprocessLink

    link = SubprocessLink()  # its worker is spawned once the first frame is on the screen

    from chatmem.logs import setup_logging
    from chatmem.paths import resolve_paths, resource_dir

    paths = resolve_paths()
    setup_logging(paths.log_dir, "chatmem", secrets=[settings.api_key] if settings.api_key else [])

    from chatmem.ui.app import ChatmemApp

    app = ChatmemApp(
        settings,
        link=link,
        new_session=new_session,
        theme_dirs=(resource_dir("themes"), paths.themes_dir),
        problems=problems,
    )
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
