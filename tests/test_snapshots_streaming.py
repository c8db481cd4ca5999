"""Long replies of each shape as they end up after streaming (``test_streaming`` shows the
same screen comes back when the conversation is reopened, i.e. rendered whole)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import settings_for
from tests.fake_openai import Reply
from tests.harness import make_app, settle
from tests.test_streaming import until_shown

SIZE = (100, 32)
SHAPES = {
    "code": "```python\n"
    + "\n".join(f"def f{i}(x):\n    return x * {i}  # line {i}" for i in range(60))
    + "\n```\n\nThat is all.",
    "paragraph": " ".join(
        f"word{i}" + (" **bold** and `code`" if i % 40 == 0 else "") for i in range(700)
    ),
    "list": "\n".join(f"{i}. item number {i} with *emphasis*" for i in range(1, 91)),
    "table": "| n | square |\n|---|---|\n" + "\n".join(f"| {i} | {i * i} |" for i in range(60)),
    "nested": "\n".join(
        f"- point {i} {'with words that wrap ' * (i % 4)}`code {i}`\n  - sub {i} **bold**"
        f"\n    1. deep {i}"
        for i in range(6)
    )
    + "\n\n| left | right | centre |\n|:--|--:|:-:|\n"
    + "\n".join(f"| {i} | {i * 7} | {'long cell ' * (i * 3)}|" for i in range(6)),
    "many": "\n\n".join(
        f"## Part {i}\n\nSome *text* for part {i}.\n\n- one\n- two\n\n```\nx = {i}\n```"
        for i in range(12)
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_a_long_reply_streamed(snap_compare, fake_openai, shape):
    """Any port will do: nothing on these screens names the server."""
    text = SHAPES[shape]
    fake_openai.script(Reply(text, chunks=[text[i : i + 9] for i in range(0, len(text), 9)]))

    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#prompt").insert("Show me")
        await pilot.press("enter")
        await until_shown(pilot)

    app = make_app(settings_for(Path("."), fake_openai.url))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
