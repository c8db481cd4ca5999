"""Keyboard-first screens as the user sees them: palette, slash menu, help, stats, pickers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.harness import make_app, settle
from tests.seed import seed

pytestmark = pytest.mark.xdist_group("snapshots")  # one at a time: a fixed port, see conftest

SIZE = (110, 34)


def keys(*pressed: str, typed: str = "", send: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for line in send:
            pilot.app.chat.query_one("#prompt").load_text(line)
            await pilot.press("enter")
            await settle(pilot)
        if typed:
            await pilot.press(*typed)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)
        await pilot.pause(0.3)  # the palette searches in the background

    return run_before


SCREENS = {
    "slash_menu": keys(typed="/s"),
    "slash_menu_all": keys(typed="/"),
    "palette": keys("ctrl+p"),
    "palette_filtered": keys("ctrl+p", *"mem"),
    "help": keys("f1"),
    "stats": keys("f8", send=("How do bees swarm?", "And when?")),
    "sidebar_sparkline": keys(send=("One", "Two", "Three")),
    "copy_picker": keys("ctrl+l", send=("Show me code",)),
    "model_picker": keys("ctrl+o"),
    "unknown_command": keys("enter", typed="/frobnicate"),
}


@pytest.mark.parametrize("screen", SCREENS)
def test_commands(snap_compare, snap_settings, monkeypatch, screen):
    for var, path in (
        ("XDG_CONFIG_HOME", "/home/ada/.config"),
        ("XDG_DATA_HOME", "/home/ada/.local/share"),
        ("XDG_STATE_HOME", "/home/ada/.local/state"),
    ):
        monkeypatch.setenv(var, path)  # the help screen shows them: the same on every machine
    seed(snap_settings)
    app = make_app(snap_settings, new_session=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=SCREENS[screen])


def test_a_keymap_clash_is_reported(snap_compare, snap_settings):
    app = make_app(replace(snap_settings, keymap={"sessions": "f3", "nope": "f9"}))
    assert snap_compare(app, terminal_size=SIZE, run_before=keys())
