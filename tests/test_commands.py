"""Every action three ways: slash commands (with completion), the palette, keys and keymap."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets._footer import FooterKey

from chatmem import protocol as p
from chatmem.ui.commands import COMMANDS, completions, parse
from chatmem.ui.keymap import key_names, problems
from chatmem.ui.registry import scopes
from chatmem.ui.screens.forms import Ask
from chatmem.ui.screens.help import HelpScreen, help_text
from chatmem.ui.screens.memories import MemoryBrowser
from chatmem.ui.screens.pickers import CopyPicker, ModelPicker, copyable
from chatmem.ui.screens.sessions import SessionsScreen
from chatmem.ui.screens.settings import SettingsScreen
from chatmem.ui.screens.stats import StatsScreen, columns
from chatmem.ui.widgets.footer import Footer
from tests.harness import make_app, settle
from tests.seed import seed

SIZE = (110, 32)


def test_parse_and_complete():
    assert parse("/new").command.id == "new_session"
    assert parse("/bye").command.id == "new_session"
    for word in ("bye", "  Goodbye ", "-esc", "esc", "TERMINATE"):
        assert parse(word).command.id == "new_session"
    assert parse("bye for now").command is None  # not alone: a message
    assert parse("/remember I keep bees ").arg == "I keep bees"
    assert parse("/frobnicate").unknown == "/frobnicate"
    assert parse("//etc/hosts is a file") == parse("hello")  # a message
    assert [name for name, _ in completions("/m")] == ["/memories", "/model"]
    assert completions("/model gpt") == []  # arguments: no menu


def test_keymap_problems_are_named():
    all_scopes = scopes()
    assert problems({}, all_scopes) == []
    found = problems({"sessions": "f3", "nope": "f9", "copy": "ctrl+k"}, all_scopes)
    assert any("f3 is bound to memories and sessions" in line for line in found)
    assert any("'nope' is not a binding id" in line for line in found)
    assert any("editor uses ctrl+k" in line for line in found)
    ids = {b.id for bindings in all_scopes.values() for b in bindings}
    assert {c.id for c in COMMANDS} <= ids and "sessions.rename" in ids


def test_every_registered_screen_with_keys_is_known_to_the_keymap_and_the_help():
    assert list(scopes()) == ["chat", "memory browser", "sessions", "stats"]
    assert problems({"stats.close": "f9"}, scopes()) == []
    text = help_text({"stats.close": "f9"}, []).plain
    assert "On the stats screen" in text and "f9" in text.split("On the stats screen")[1]


def test_key_names_follow_the_keymap():
    chat = scopes()["chat"]
    assert key_names(chat, {})["resend"] == "Ctrl+R"
    names = key_names(chat, {"resend": "ctrl+shift+r,f9", "settings": "f12"})
    assert (names["resend"], names["settings"], names["stop_reply"]) == (
        "Ctrl+Shift+R",
        "F12",
        "Esc",
    )
    assert key_names(chat, {"resend": ",", "help": "question_mark"})["resend"] == "Ctrl+R"
    assert key_names(chat, {"help": "question_mark"})["help"] == "?"


def test_the_day_chart_scales_to_the_busiest_day_and_never_hides_a_small_one():
    assert columns([0, 4, 8], height=1) == ["  ▄ █"]
    assert columns([1, 1000], height=2) == ["  █", "▁ █"]
    assert columns([0, 0], height=1) == ["   "]


def test_copyable_offers_messages_and_their_code_blocks():
    messages = [
        p.ChatMessage("u", "user", "Show me", 1.0),
        p.ChatMessage("a", "assistant", "Here:\n```py\nprint(1)\n```\nand\n```\nx\n```", 2.0),
    ]
    items = copyable(messages)
    assert [text for _, text in items] == [messages[1].content, "print(1)\n", "x\n", "Show me"]


async def type_line(pilot, text: str) -> None:
    prompt = pilot.app.chat.query_one("#prompt")
    prompt.load_text(text)
    await pilot.pause()
    await pilot.press("enter")
    await settle(pilot)


@pytest.fixture
def seeded(settings):
    seed(settings)
    return settings


SCREENS = {
    "/sessions": SessionsScreen,
    "/memories": MemoryBrowser,
    "/help": HelpScreen,
    "/stats": StatsScreen,
    "/settings": SettingsScreen,
    "/model": ModelPicker,
}


@pytest.mark.parametrize("line", SCREENS)
async def test_slash_commands_open_their_screens(seeded, line):
    app = make_app(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_line(pilot, line)
        assert isinstance(app.screen, SCREENS[line])
        if line == "/stats":
            assert "Tokens per day" in str(app.screen.query_one("#stats-body").render())
        if line == "/model":
            assert app.screen.models == ("gpt-4o-mini", "test-model")


async def test_slash_commands_that_act(seeded, fake_openai):
    app = make_app(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        worker = app.link.worker
        await type_line(pilot, "/model test-model")
        assert worker.settings.model == "test-model" and app.settings.model == "test-model"
        assert "test-model" in app.chat.sub_title
        await type_line(pilot, "/theme chatmem-paper")
        assert app.theme == "chatmem-paper"
        await type_line(pilot, "/theme no-such")
        assert app.theme == "chatmem-paper"
        await type_line(pilot, "/export beekeeping.md")
        assert Path("beekeeping.md").read_text().startswith("# Beekeeping")
        await type_line(pilot, "/remember I keep two hives")
        assert any("two hives" in m.text() for m in worker.memory.store)
        await type_line(pilot, "/frobnicate now")
        assert app.chat.query_one("#prompt").text == "/frobnicate now"  # kept, nothing sent
        assert not fake_openai.chat_requests()
        app.chat.query_one("#prompt").clear()
        before = app.chat.session_id
        await type_line(pilot, "goodbye")
        assert app.chat.session_id != before
        await type_line(pilot, "//usr is a folder")
        assert fake_openai.chat_requests()[-1].said[-1] == "/usr is a folder"
        await type_line(pilot, "/copy")
        assert isinstance(app.screen, CopyPicker)
        await pilot.press("enter")
        assert app.clipboard == "Echo: /usr is a folder"
        await type_line(pilot, "/quit")
    assert app.return_code == 0


async def test_commands_without_their_argument_ask_for_it(seeded):
    app = make_app(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_line(pilot, "/forget")
        assert isinstance(app.screen, Ask)
        app.screen.query_one("#answer").value = "m-bees"
        await pilot.press("enter")
        await settle(pilot)
        assert app.link.worker.memory.store.get("m-bees") is None
        await type_line(pilot, "/export")
        assert app.screen.query_one("#answer").value == "beekeeping.md"


async def test_the_slash_menu_completes(seeded):
    app = make_app(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", "r", "e")
        menu = app.chat.query_one("#slash-menu")
        assert menu.display and menu.option_count == 1  # /remember
        await pilot.press("tab")
        assert app.chat.query_one("#prompt").text == "/remember "
        assert not menu.display
        app.chat.query_one("#prompt").clear()
        await pilot.press("slash", "s")
        assert menu.option_count == 3  # /settings /sessions /stats
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)


PALETTE = {
    "Memories": MemoryBrowser,
    "Sessions": SessionsScreen,
    "Help": HelpScreen,
    "Stats": StatsScreen,
    "Settings": SettingsScreen,
    "Model": ModelPicker,
    "Copy": CopyPicker,
    "Remember": Ask,
    "Forget": Ask,
    "Export": Ask,
}


async def from_palette(pilot, title: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    assert isinstance(pilot.app.screen, CommandPalette)
    await pilot.press(*title)
    await pilot.pause(0.3)  # it searches in the background
    await pilot.press("enter")
    await settle(pilot)


@pytest.mark.parametrize("title", PALETTE)
async def test_palette_commands(seeded, title):
    app = make_app(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await from_palette(pilot, title)
        assert isinstance(app.screen, PALETTE[title])


async def test_palette_new_theme_and_quit(seeded):
    app = make_app(seeded)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.chat.session_id
        await from_palette(pilot, "New")
        assert app.chat.session_id != before
        await from_palette(pilot, "Theme")
        assert isinstance(app.screen, CommandPalette)  # Textual's theme picker
        await pilot.press(*"paper", "enter")
        await settle(pilot)
        assert app.theme == "chatmem-paper"
        await from_palette(pilot, "Quit")
    assert app.return_code == 0


async def test_every_command_has_a_key_and_the_keymap_moves_it(settings):
    app = make_app(replace(settings, keymap={"sessions": "f9", "stats": "f5"}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f9")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("escape", "f5")
        await settle(pilot)
        assert isinstance(app.screen, StatsScreen)


async def test_the_footer_rebuilds_once_for_a_burst_of_binding_changes(settings):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        footer = app.chat.query_one(Footer)
        rebuilds: list[int] = []
        recompose = footer.recompose

        async def counted() -> None:
            rebuilds.append(1)
            await recompose()

        footer.recompose = counted
        footer.bindings_changed(app.chat)  # the keys shown are the same: nothing to rebuild
        await settle(pilot)
        assert rebuilds == []
        app.set_keymap({"resend": "f9"})  # a key shown changes, in a burst of changes
        for _ in range(5):
            footer.bindings_changed(app.chat)
        await settle(pilot)
        assert len(rebuilds) == 1 and not footer._rebuild_pending
        assert "f9" in [key.key for key in footer.query(FooterKey)]


async def test_the_footer_follows_the_bindings_after_a_screen_came_and_went(settings):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        footer = app.chat.query_one(Footer)
        app.push_screen(HelpScreen())
        await asyncio.sleep(0.01)
        app.pop_screen()  # gone before it was ever idle
        await settle(pilot)
        shown = {key.action for key in footer.query(FooterKey)}
        assert not footer._rebuild_pending and {"resend", "memories"} <= shown


async def test_a_clash_in_the_keymap_is_reported_at_start(settings):
    app = make_app(replace(settings, keymap={"sessions": "f3"}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.5)
        notes = [n.message for n in app._notifications]
        assert any("f3 is bound to memories and sessions" in n for n in notes)
