"""Hostile text as the user sees it: control sequences made visible, brackets as text."""

from __future__ import annotations

import pytest

from tests.fake_openai import Error, Reply
from tests.harness import make_app
from tests.test_snapshots import SIZE, send

pytestmark = pytest.mark.xdist_group("snapshots")  # one at a time: a fixed port, see conftest

ESC = "\x1b"


def test_control_sequences_shown_visibly(snap_compare, snap_settings, snap_server):
    snap_server.script(
        Reply(f"Clipboard {ESC}]52;c;cm0gLXJmIH4={ESC}\\ title {ESC}]2;pwned\x07 clear {ESC}[2J")
    )
    snap_server.script_title(Reply(f"Notes {ESC}]2;pwned\x07 [/]"))
    app = make_app(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=send("Price list [USD: a"))


def test_brackets_in_a_server_error_and_a_memory_notice(snap_compare, snap_settings, snap_server):
    snap_server.script(Error(400, "Unknown field [/x] in [b]messages"))

    async def run_before(pilot) -> None:
        await send("/remember Budget [approx 300 euros")(pilot)
        await send("Hello [/]")(pilot)

    assert snap_compare(make_app(snap_settings), terminal_size=SIZE, run_before=run_before)
