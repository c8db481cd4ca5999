"""The command line, the UI process's imports, and what the wheel ships."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from chatmem import __version__
from tests.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-test-NeverOnScreen-0123456789"


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, timeout=60, input=stdin
    )


@pytest.fixture
def server_env(monkeypatch):
    def point_at(url: str) -> None:
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("CHATMEM_MODEL", "gpt-4o-mini")
        monkeypatch.setenv("CHATMEM_MAX_RETRIES", "1")

    return point_at


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


def test_the_command_line_needs_no_protocol():
    """The memory form's fields come from the domain: parsing arguments loads no wire."""
    probe = (
        "import sys, chatmem.cli; chatmem.cli.parser(); print('chatmem.protocol' in sys.modules)"
    )
    assert run("-c", probe).stdout.strip() == "False"


def test_the_headless_commands_never_import_textual(fake_openai, server_env):
    server_env(fake_openai.url)
    probe = (
        "import sys\n"
        "from chatmem.cli import main\n"
        "for argv in (['memories', 'add', 'fact', 'bees'], ['memories', 'list'],"
        " ['memories', 'export'], ['sessions', 'list']):\n"
        "    assert main(argv) == 0\n"
        "light = [m for m in ('textual', 'openai', 'tiktoken') if m in sys.modules]\n"
        "assert main(['ask', 'hi']) == 0\n"  # (its exit code 0)
        "print(light, [m for m in sys.modules if m.partition('.')[0] == 'textual'])\n"
    )
    done = run("-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[] []"


def test_exit_codes(server_env):
    with FakeOpenAI(api_key="sk-another") as strict:
        server_env(strict.url)
        done = run("-m", "chatmem", "ask", stdin="hello\n")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("The API key was rejected: ") and done.stderr.count("\n") == 1
    assert KEY not in done.stderr
    assert run("-m", "chatmem", "memories", "rm", "m-none").returncode == 1
    assert run("-m", "chatmem", "memories", "add", "dream", "x").returncode == 2
    assert run("-m", "chatmem", "memories", "add", "event", "x", "--dates", "never").returncode == 2


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
        "chatmem/ui/screens.tcss",
    ):
        assert name in files


def test_the_first_frame_loads_no_protocol_and_nothing_heavy():
    """What ``chatmem`` imports to paint the chat: the wire, the domain, the store, the
    network, the tokenizer and Markdown all come later."""
    probe = (
        "import sys, chatmem.cli;"
        "chatmem.cli.parser(memory_fields=False);"
        "import chatmem.ui.link, chatmem.ui.app, chatmem.ui.registry;"
        "chatmem.ui.registry.SCREENS[0].load();"
        "heavy = ('chatmem.protocol', 'chatmem.domain', 'tinydb', 'openai', 'tiktoken',"
        " 'httpx', 'markdown_it', 'rich.markdown');"
        "print([m for m in sys.modules if m.startswith(heavy)])"
    )
    assert run("-c", probe).stdout.strip() == "[]"
