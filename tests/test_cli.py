"""The command line, the UI process's imports, and what the wheel ships."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from chatmem import __version__

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_paths_lists_every_path(isolated_home):
    out = run("-m", "chatmem", "paths").stdout
    for label in ("config file", "themes", "prompts", "model table", "data", "logs"):
        assert label in out
    assert str(isolated_home / "config" / "chatmem" / "config.toml") in out


def test_version():
    assert run("-m", "chatmem", "--version").stdout.strip() == f"chatmem {__version__}"


def test_the_ui_process_imports_neither_the_store_nor_the_client():
    probe = (
        "import sys, chatmem.cli, chatmem.ui.app, chatmem.ui.link, chatmem.config;"
        "heavy = ('openai', 'tinydb', 'tiktoken', 'httpx2', 'httpx');"
        "bad = [m for m in heavy if m in sys.modules];"
        "print(bad)"
    )
    assert run("-c", probe).stdout.strip() == "[]"


def test_the_installed_package_ships_themes_prompts_and_data():
    try:
        files = {str(f) for f in importlib.metadata.files("chatmem") or []}
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("chatmem is not installed")
    if not any(f.startswith("chatmem/") and f.endswith(".py") for f in files):
        pytest.skip("an editable install: resources come from the source tree")
    for name in (
        "chatmem/themes/chatmem-dark.toml",
        "chatmem/prompts/system.md",
        "chatmem/data/models.toml",
        "chatmem/ui/chatmem.tcss",
    ):
        assert name in files
