"""Hostile text from outside, through the real app (pilot) and the real CLI: control sequences
never reach the terminal, brackets are text, secrets stay off the screen."""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from textual.content import Content
from textual.widgets import Input, Markdown, OptionList, Static

from chatmem import protocol as p
from chatmem.cli import main
from chatmem.config import load_settings
from chatmem.llm import errors
from chatmem.logs import setup_logging
from chatmem.ui.widgets.banner import Banner
from chatmem.ui.widgets.prompt import PromptInput
from chatmem.ui.widgets.sidebar import Sidebar
from chatmem.ui.widgets.text_block import TextBlock
from tests.fake_openai import Error, FakeOpenAI, Reply
from tests.harness import make_app, settle

HOSTILE = Path(__file__).parent / "data" / "hostile"
SIZE = (110, 36)
ESC = "\x1b"
# OSC 52 writes the clipboard, OSC 2 sets the window title, CSI 2J clears the screen; \x9b is
# the one-byte C1 CSI, \x07 the bell that ends an OSC.
CONTROLS = f"Sure.{ESC}]52;c;cm0gLXJmIH4={ESC}\\ {ESC}]2;pwned\x07 {ESC}[2J \x9b31m done"
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(app) -> str:
    """The whole screen painted now (markup in a widget raises here)."""
    return app.export_screenshot()


def texts(app) -> str:
    """What the widgets of the current screen hold: Markdown sources (replies' too), static
    text, titles."""
    parts = [app.screen.title or "", app.screen.sub_title or ""]
    for widget in app.screen.query("*"):
        if isinstance(widget, (Markdown, TextBlock)):
            parts.append(widget.source)
        elif isinstance(widget, Static):
            parts.append(str(widget.render()))
        elif isinstance(widget, OptionList):
            parts += [str(o.prompt) for o in widget.options]
    return "\n".join([*parts, *notices(app)])


def notices(app) -> list[str]:
    """The notifications, rendered as Textual's toasts render them (markup raises here)."""
    return [
        (Content.from_markup(n.message) if n.markup else Content(n.message)).plain
        for n in app._notifications
    ]


async def send(pilot, text: str) -> None:
    pilot.app.screen.query_one(PromptInput).insert(text)
    await pilot.press("enter")
    await settle(pilot)
    shown(pilot.app)


# ------------------------------------------------------------------ 1. control sequences


async def test_control_sequences_in_replies_titles_and_errors_are_shown_visibly(
    settings, fake_openai
):
    fake_openai.script(Reply(CONTROLS), Error(500, f"overloaded {ESC}]2;owned{ESC}\\"))
    fake_openai.script_title(Reply(f"Title {ESC}]2;pwned{ESC}\\ {ESC}[2J"))
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "hello")
        await settle(pilot)
        reply = app.screen.transcript.views[-1].message
        assert not RAW.search(reply.content + texts(app))
        assert "␛]52;c;cm0gLXJmIH4=␛\\ ␛]2;pwned␇ ␛[2J \\u009b31m done" in reply.content
        assert app.screen.title == "Title ␛]2;pwned␛\\ ␛[2J"
        await send(pilot, "again")
        banner = str(app.screen.query_one(Banner).render())
        assert "overloaded ␛]2;owned␛\\" in banner and not RAW.search(banner)
        await pilot.press("f5")  # the stored title, listed
        await settle(pilot)
        listed = texts(app)
        assert "Title ␛]2;pwned" in listed and not RAW.search(listed)


async def test_an_imported_session_and_its_title_are_shown_visibly(settings, tmp_path):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.send(p.ImportSession(str(HOSTILE / "control-chars.session.json")))
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        assert "Trip ␛]2;pwned title␛\\ notes [/]" in texts(app)
        app.send(p.OpenSession("hostile-controls"))
        await pilot.press("escape")
        await settle(pilot)
        contents = [v.message.content for v in app.screen.transcript.views]
        assert contents == [
            "clipboard ␛]52;c;cm0gLXJmIH4=␇ please",
            "screen ␛[2J␛[H cleared, C1 \\u009b31m red, bell ␇, croverwrite",
        ]
        assert not RAW.search(texts(app))


async def test_a_reply_streamed_in_pieces_reads_as_the_stored_one(settings, fake_openai):
    chunks = [CONTROLS[i : i + 3] for i in range(0, len(CONTROLS), 3)]  # ESC split from its [
    fake_openai.script(Reply(CONTROLS, chunks=chunks))
    fake_openai.chunk_delay = 0.01
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "go")
        view = app.screen.transcript.views[-1]
        assert "".join(m.source for m in view.parts[1:]) == view.message.content


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def local_key(cli_env, monkeypatch) -> str:
    """A key that looks like no key: only known as the key in use."""
    monkeypatch.setenv("OPENAI_API_KEY", "local-token-NotOnScreen")
    return "local-token-NotOnScreen"


def test_the_headless_commands_print_no_control_sequence(capsys, local_key, fake_openai):
    fake_openai.script(Reply(CONTROLS))
    fake_openai.script_title(Reply(f"Title {ESC}]2;pwned\x07"))
    code, out, _ = cli(capsys, "ask", "hello")
    assert code == 0 and "␛]52;c;cm0gLXJmIH4=" in out
    code, out, _ = cli(capsys, "sessions", "import", str(HOSTILE / "control-chars.session.json"))
    assert code == 0 and "Trip ␛]2;pwned title" in out
    code, out, _ = cli(capsys, "memories", "add", "fact", f"note {ESC}]52;c;eA==\x07")
    assert code == 0
    memory_id = out.split()[2].rstrip(":")
    printed = {
        "ask": "",
        "list": cli(capsys, "sessions", "list")[1],
        "show": cli(capsys, "sessions", "show", "hostile-controls")[1],
        "memories": cli(capsys, "memories", "list")[1],
        "memory": cli(capsys, "memories", "show", memory_id)[1],
    }
    for name, text in printed.items():
        assert not RAW.search(text.replace("\n", "").replace("\t", "")), name
    assert "Title ␛]2;pwned␇" in printed["list"]
    assert "screen ␛[2J␛[H cleared, C1 \\u009b31m red" in printed["show"]
    assert "note ␛]52;c;eA==␇" in printed["memories"] + printed["memory"]
    # JSON stays exact: escapes, not pictures
    (row,) = [
        s
        for s in json.loads(cli(capsys, "sessions", "list", "--json")[1])
        if s["id"] == "hostile-controls"
    ]
    assert row["title"] == f"Trip {ESC}]2;pwned title{ESC}\\ notes [/]"
    exported = cli(capsys, "sessions", "export", "hostile-controls", "--format", "json")[1]
    assert not RAW.search(exported.replace("\n", ""))
    assert json.loads(exported)["messages"][1]["content"].startswith(f"screen {ESC}[2J")


# ------------------------------------------------------------------ 2. brackets are text


async def test_brackets_typed_recalled_and_configured_are_text(settings, tmp_path, monkeypatch):
    config = tmp_path / "config" / "chatmem" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(HOSTILE / "markup-in-config.toml", config)
    _, problems = load_settings({})
    assert any("[/x]" in problem for problem in problems)
    exported = tmp_path / "[" / "x].md"
    exported.parent.mkdir()
    app = make_app(settings, problems=problems)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        typed = [
            "/remember Budget [approx 300 euros",
            "/remember Price list [USD: about 5 per unit]",
            "/forget x [/y]",
            "/theme [/x]",
            f"/export {exported}",
            "[/] and [b]not bold, [link=x]",
            "what is on the price list in USD",
        ]
        for text in typed:
            await send(pilot, text)
        await settle(pilot)
        assert exported.exists()
        notes = "\n".join(notices(app))
        for literal in (
            "[/x]",  # the config problem
            "Remembered (fact): Budget [approx 300 euros",
            "x [/y]",
            "No theme '[/x]'",
            str(exported),
        ):
            assert literal in notes, literal
        recall = str(app.screen.query_one(Sidebar).query_one("#recall", Static).render())
        assert "Price list [USD: ab…" in recall
        contents = [v.message.content for v in app.screen.transcript.views]
        assert "[/] and [b]not bold, [link=x]" in contents
        await send(pilot, "and the price list again")  # the sidebar is drawn again
        await pilot.press("f3")  # the memory browser lists and shows them
        await settle(pilot)
        assert "Budget [approx 300 euros" in texts(app)


async def test_a_title_and_a_server_error_of_brackets_are_text(settings, fake_openai):
    fake_openai.script_title(Reply("[/]"))
    fake_openai.script(Reply("ok"), Error(500, "bad [/x] tag [b]"))
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "hi")
        await send(pilot, "again")
        assert app.screen.title == "[/]"
        assert "bad [/x] tag [b]" in str(app.screen.query_one(Banner).render())
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("d")  # the delete question quotes the title
        await settle(pilot)
        assert "Delete “[/]”" in texts(app)
        await pilot.press("y")
        await settle(pilot)
        assert "Deleted “[/]”." in texts(app)


# ------------------------------------------------------------------ 8. secrets


async def test_an_echoed_key_stays_off_the_banner(settings):
    key = "local-token-0123456789"  # not key-like: only known as the key in use
    with FakeOpenAI(echo_key=True) as server:
        server.script(Error(500, "overloaded."))
        app = make_app(replace(settings, base_url=server.url, api_key=key))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await send(pilot, "hello")
            banner = str(app.screen.query_one(Banner).render())
            assert "Invalid key: Bearer [redacted]" in banner and key not in banner


def test_a_key_typed_in_the_settings_is_redacted_from_the_error_too():
    """``ListModels`` sends a key the worker has not been configured with."""
    import openai

    typed = "typed-in-settings-987654"
    with FakeOpenAI(echo_key=True) as server:
        server.script(Error(500, "overloaded."))
        client = openai.OpenAI(base_url=server.url, api_key=typed, max_retries=0)
        with pytest.raises(openai.APIStatusError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=[], stream=True)
    info = errors.describe(raised.value, server.url, "gpt-4o-mini", 5.0)
    assert typed in str(raised.value) and typed not in info.message
    assert "Invalid key: [redacted]" in info.message


async def test_credentials_in_the_base_url_stay_off_screen_and_out_of_the_log(
    settings, fake_openai, tmp_path
):
    log = setup_logging(tmp_path / "logs", "worker")
    url = fake_openai.url.replace("http://", "http://ada:hunter2pass@")
    fake_openai.script(Error(500, "overloaded"))
    app = make_app(replace(settings, base_url=url))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await send(pilot, "hello")
        banner = str(app.screen.query_one(Banner).render())
        assert "http://[redacted]@127.0.0.1" in banner and "hunter2pass" not in banner
        await pilot.press("f2")
        await settle(pilot)
        field = app.screen.query_one("#base_url", Input)
        assert "hunter2pass" not in field.value and "[redacted]@" in field.value
        await pilot.press("ctrl+s")  # saved unchanged: the real URL is kept
        await settle(pilot)
        assert app.settings.base_url == url
    for handler in logging.getLogger().handlers[:]:
        if getattr(handler, "baseFilename", None) == str(log):
            logging.getLogger().removeHandler(handler)
            handler.close()
    logged = log.read_text()
    assert "127.0.0.1" in logged and "hunter2pass" not in logged


def test_the_cli_keeps_an_echoed_key_and_url_credentials_off_stderr(capsys, local_key, monkeypatch):
    with FakeOpenAI(echo_key=True) as server:
        server.script(Error(500, "overloaded."))
        monkeypatch.setenv("OPENAI_BASE_URL", server.url.replace("http://", "http://ada:pw1234@"))
        code, _, err = cli(capsys, "ask", "hello")
    assert code == 1 and "Invalid key: [redacted]" in err and "http://[redacted]@127" in err
    assert local_key not in err and "pw1234" not in err
