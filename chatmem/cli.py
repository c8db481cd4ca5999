"""Command line: ``chatmem`` opens the app; subcommands work without it."""

from __future__ import annotations

import argparse
import sys

from chatmem import __version__


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="chatmem", description="A terminal chat that remembers you.")
    ap.add_argument("--version", action="version", version=f"chatmem {__version__}")
    ap.add_argument("--model", help="model name (overrides CHATMEM_MODEL and the config)")
    ap.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://localhost:11434/v1")
    ap.add_argument("--profile", help="a separate store of sessions and memories")
    ap.add_argument("--new", action="store_true", help="start a new session instead of resuming")
    sub = ap.add_subparsers(dest="command")
    sub.add_parser("paths", help="print every path chatmem uses")
    imp = sub.add_parser("import", help="import data from elsewhere")
    imp.add_argument("source", choices=["legacy"], help="legacy: the first prototype's files")
    imp.add_argument("paths", nargs="+", help="memories.json and/or chat.json")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from chatmem.config import load_settings
    from chatmem.paths import resolve_paths

    flags = {"model": args.model, "base_url": args.base_url, "profile": args.profile}
    settings, problems = load_settings(flags)
    paths = resolve_paths()
    if args.command == "paths":
        for label, path in paths.describe():
            print(f"{label:<14} {path}")
        return 0
    if args.command == "import":
        return import_legacy(settings, args.paths)
    return run_app(settings, problems, args.new)


def import_legacy(settings, paths: list[str]) -> int:
    from pathlib import Path

    from chatmem.memory.legacy import import_paths
    from chatmem.store.atomic import StoreError
    from chatmem.store.profile import Profile

    try:
        with Profile.open(Path(settings.data_dir), settings.profile) as profile:
            report = import_paths([Path(p) for p in paths], profile)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


def run_app(settings, problems: list[str], new_session: bool) -> int:
    from chatmem.ui.link import SubprocessLink, spawn_worker

    link = SubprocessLink(spawn_worker())  # boots while Textual imports and paints

    from chatmem.logs import setup_logging
    from chatmem.paths import resolve_paths, resource_dir
    from chatmem.ui.themes import load_themes

    paths = resolve_paths()
    setup_logging(paths.log_dir, "chatmem", secrets=[settings.api_key] if settings.api_key else [])
    themes, theme_problems = load_themes(resource_dir("themes"), paths.themes_dir)

    from chatmem.ui.app import ChatmemApp

    app = ChatmemApp(
        settings,
        link=link,
        new_session=new_session,
        themes=themes,
        problems=problems + theme_problems,
    )
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
