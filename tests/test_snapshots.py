"""What the user sees, screen by screen: pytest-textual-snapshot at a fixed size.

The fake server listens on a fixed port here (``snap_server``) because error messages name
the base URL; the clock is fixed and the cursor does not blink.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from chatmem import protocol as p
from chatmem.paths import resource_dir
from chatmem.ui.app import WorkerEvent
from tests.fake_openai import Cut, Error, Hang, Reply
from tests.harness import make_app, settle

pytestmark = pytest.mark.xdist_group("snapshots")  # one at a time: a fixed port, see conftest

SIZE = (100, 32)

CODE_REPLY = """Here is a small function:

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```

Call it with `greet("Ada")`."""


def send(text: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#prompt").insert(text)
        await pilot.press("enter")
        await settle(pilot)

    return run_before


async def started(pilot) -> None:
    await settle(pilot)


def test_first_run(snap_compare, snap_settings):
    blank = replace(snap_settings, api_key="", model="", base_url="https://api.openai.com/v1")
    assert snap_compare(make_app(blank), terminal_size=SIZE, run_before=started)


def test_empty_chat(snap_compare, snap_settings):
    assert snap_compare(make_app(snap_settings), terminal_size=SIZE, run_before=started)


def test_conversation_with_code_block(snap_compare, snap_settings, snap_server):
    snap_server.script(Reply(CODE_REPLY))
    app = make_app(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=send("Write a greeting function"))


def test_reply_streaming(snap_compare, snap_settings):
    async def run_before(pilot) -> None:
        await settle(pilot)
        app = pilot.app
        app.post_message(WorkerEvent(p.ReplyStarted("m1", "r-stream")))
        app.post_message(
            WorkerEvent(p.ReplyDelta("m1", "The first half of an answer, ", "r-stream"))
        )
        app.post_message(WorkerEvent(p.ReplyDelta("m1", "still **arriving**", "r-stream")))
        await pilot.pause(0.2)

    assert snap_compare(make_app(snap_settings), terminal_size=SIZE, run_before=run_before)


def test_cut_off_reply(snap_compare, snap_settings, snap_server):
    snap_server.script(Cut("A reply that the network cuts short, mid-sentence.", after=6))
    app = make_app(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=send("Tell me something"))


ERRORS = {
    "auth": Error(401, "Incorrect API key provided", code="invalid_api_key"),
    "not_found": Error(404, "The model does not exist", code="model_not_found"),
    "rate_limit": Error(429, "Rate limit reached", headers={"retry-after": "0"}),
    "server": Error(500, "The server had an error"),
    "timeout": Hang(5),
}


@pytest.mark.parametrize("kind", [*ERRORS, "connection", "no_key", "too_large"])
def test_error_banner(snap_compare, snap_settings, snap_server, kind):
    settings = replace(snap_settings, request_timeout=0.5)
    if kind in ERRORS:
        snap_server.script(ERRORS[kind])
    elif kind == "connection":
        settings = replace(settings, base_url="http://127.0.0.1:9/v1")
    elif kind == "no_key":
        settings = replace(settings, api_key="", base_url="https://api.openai.com/v1")
    text = "word " * 400 if kind == "too_large" else "Are you there?"
    if kind == "too_large":
        settings = replace(settings, context_window=300)
    assert snap_compare(make_app(settings), terminal_size=SIZE, run_before=send(text))


def test_settings_screen(snap_compare, snap_settings):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f2")
        await pilot.pause()

    assert snap_compare(make_app(snap_settings), terminal_size=SIZE, run_before=run_before)


def test_sidebar_near_a_full_window(snap_compare, snap_settings):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for i in range(4):
            pilot.app.send(p.SendMessage(f"question {i}: " + "some words in it " * 8))
            await settle(pilot)

    app = make_app(replace(snap_settings, context_window=400))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize(
    "theme", sorted(path.stem for path in resource_dir("themes").glob("*.toml"))
)
def test_each_shipped_theme(snap_compare, snap_settings, snap_server, theme):
    snap_server.script(Reply(CODE_REPLY))
    app = make_app(replace(snap_settings, theme=theme))
    assert snap_compare(app, terminal_size=SIZE, run_before=send("Write a greeting function"))


def test_memory_notice_and_recall_in_the_sidebar(snap_compare, snap_settings, snap_server):
    extracted = '{"memories": [{"action": "add", "type": "person", "fields": {"name": "Anna", "relation": "sister"}}]}'  # noqa: E501
    snap_server.script_completion(Reply(extracted))

    async def run_before(pilot) -> None:
        await send("/remember I prefer tea to coffee")(pilot)
        await send("My sister Anna likes tea too")(pilot)
        await pilot.pause(0.1)

    assert snap_compare(make_app(snap_settings), terminal_size=SIZE, run_before=run_before)


def _fold_run(expand: bool):
    async def run_before(pilot) -> None:
        for i in range(3):
            await send(f"Turn {i}: tell me more about tide pools.")(pilot)
        if expand:
            pilot.app.screen.query_one("#folded").collapsed = False
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("expand", [False, True], ids=["collapsed", "expanded"])
def test_folded_conversation_divider(snap_compare, snap_settings, expand):
    app = make_app(replace(snap_settings, fold_at_messages=4))
    assert snap_compare(app, terminal_size=SIZE, run_before=_fold_run(expand))


def test_summarizing_earlier_messages(snap_compare, snap_settings):
    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.post_message(WorkerEvent(p.Folding(12, "r-fold")))
        await pilot.pause(0.2)

    assert snap_compare(make_app(snap_settings), terminal_size=SIZE, run_before=run_before)
