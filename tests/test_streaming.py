"""Long replies of every shape: cut into blocks the same way streamed or whole, shown the same
way streamed or reopened, Esc stopping at once, and nothing typed lost."""

from __future__ import annotations

import random
import re

import pytest

from chatmem.ui.blocks import LIST_SPLIT, Splitter
from chatmem.ui.widgets.blocks import CodeBlock, Paragraph
from tests.fake_openai import Reply
from tests.harness import make_app, settle

SIZE = (100, 30)

CODE = (
    "```python\n" + "\n".join(f"def f{i}(x):\n    return x * {i}" for i in range(500)) + "\n```\n"
)
PARAGRAPH = " ".join(f"word{i % 97}" + (" **bold**" if i % 50 == 0 else "") for i in range(5000))
LIST = "\n".join(f"{i}. item number {i} with `code`" for i in range(1, 301))
TABLE = "| n | square |\n|---|---|\n" + "\n".join(f"| {i} | {i * i} |" for i in range(150))
MANY = "\n\n".join(
    f"## Part {i}\n\nSome *text* for part {i}.\n\n- one\n- two\n\n```\nx = {i}\n```"
    for i in range(60)
)
SHAPES = {"code": CODE, "paragraph": PARAGRAPH, "list": LIST, "table": TABLE, "many": MANY}


def blocks(text: str, most: int | None = None) -> list[tuple[str, str, str]]:
    splitter, rng, at = Splitter(), random.Random(most), 0
    while at < len(text):
        step = len(text) if most is None else rng.randint(1, most)
        splitter.feed(text[at : at + step])
        at += step
    splitter.finish()
    return [(b.kind, b.info, b.source) for b in splitter.blocks]


def _visible(kind: str, info: str, source: str) -> str:
    return "".join(source.split()) + ("``````" + info if kind == "code" else "")


@pytest.mark.parametrize("shape", SHAPES)
def test_blocks_are_the_same_streamed_or_whole_and_keep_every_character(shape):
    text = SHAPES[shape]
    whole = blocks(text)
    for most in (1, 5, 300):
        assert blocks(text, most) == whole
    assert sorted("".join(_visible(*b) for b in whole)) == sorted("".join(text.split()))


def test_long_blocks_are_cut_where_they_can_be_rendered_by_parts():
    assert [kind for kind, _, _ in blocks(CODE)] == ["code"]
    assert [kind for kind, _, _ in blocks(PARAGRAPH)] == ["para"]
    assert all(source.count("\n") <= LIST_SPLIT for _, _, source in blocks(LIST))
    assert len(blocks(LIST)) > 1


async def until_shown(pilot) -> None:
    """Settled, and every reply's text on screen."""
    await settle(pilot)
    transcript, sizes = pilot.app.screen.transcript, []
    while any(view.rendering for view in transcript.views) or len(set(sizes[-3:])) != 1:
        await pilot.pause(0.1)  # and laid out: Markdown mounts its blocks in its own time
        sizes.append(transcript.virtual_size)


def _screen(app) -> str:
    """The screen as SVG, without the ids that differ between two apps."""
    return re.sub(r"terminal-[0-9a-z-]+", "t", app.export_screenshot())


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_streamed_reply_ends_shown_as_if_given_whole(settings, fake_openai, shape):
    text = SHAPES[shape]
    rng = random.Random(shape)
    cuts = sorted(rng.sample(range(1, len(text)), len(text) // 40))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    fake_openai.script(Reply(text, chunks=chunks))
    streamed = make_app(settings)
    async with streamed.run_test(size=SIZE) as pilot:
        await settle(pilot)
        streamed.screen.query_one("PromptInput").insert("go")
        await pilot.press("enter", "ctrl+b")
        await until_shown(pilot)
        view = streamed.screen.transcript.views[-1]
        assert view.message.content == text
        if shape == "code":
            assert any(isinstance(part, CodeBlock) for part in view.parts)
        if shape == "paragraph":
            assert any(isinstance(part, Paragraph) for part in view.parts)
        shown = _screen(streamed)
    reopened = make_app(settings)
    async with reopened.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+b")
        await pilot.pause(0.3)
        assert _screen(reopened) == shown


async def test_escape_stops_the_reply_at_once_and_keeps_what_arrived(settings, fake_openai):
    chunks = [f"word{i} " for i in range(100_000)]
    fake_openai.script(Reply("".join(chunks), chunks=chunks))
    fake_openai.chunk_delay = 0.001  # the reply lasts ~100 s: it cannot end before Esc
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("PromptInput").insert("tell me")
        await pilot.press("enter")
        for _ in range(400):  # until the reply shows: a loaded machine starts it late
            await pilot.pause(0.05)
            view = app.screen.streaming
            if view is not None and view.parts[-1].region.height:
                break
        assert view is not None, "the reply never started streaming"
        await pilot.press("escape")
        await pilot.pause()
        assert "cut off" in str(view.header.render())
        view.write("more text after the stop")
        await until_shown(pilot)
        assert app.screen.inflight is None
        reply = app.screen.transcript.views[-1]
        assert reply.message.status == "cut"
        assert "after the stop" not in reply.message.content
        assert len(reply.message.content) < len("".join(chunks))
        shown = reply.message.content
    assert await _stored_reply(settings) == (shown, "cut")  # what was on screen, no more


async def test_escape_while_a_whole_reply_is_still_drawn_stops_it_where_it_is(
    settings, fake_openai
):
    text = "\n\n".join(f"Part {i} has **bold** and `code` in it." for i in range(4000))
    fake_openai.script(Reply(text, chunks=[text]))  # the worker has it whole at once
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("PromptInput").insert("tell me")
        await pilot.press("enter")
        for _ in range(400):
            await pilot.pause(0.05)
            if app.screen.inflight is None and app.screen.drawing is not None:
                break
        assert app.screen.drawing is not None, "the reply never ended"
        view = app.screen.drawing[1]
        assert view.rendering, "drawn at once: nothing was left to stop"
        await pilot.press("escape")
        await until_shown(pilot)
        assert view.message.status == "cut"
        assert "cut off" in str(view.header.render())
        assert 0 < len(view.message.content) < len(text)
        assert text.startswith(view.message.content)
        shown = view.message.content
    assert await _stored_reply(settings) == (shown, "cut")


async def _stored_reply(settings) -> tuple[str, str]:
    """The last reply of the session, as the app shows it when started again."""
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        message = app.screen.transcript.views[-1].message
        return message.content, message.status


def _code_text(code: CodeBlock) -> str:
    return "\n".join(str(static.content) for static in code.fence.children)


async def test_escape_in_a_long_code_block_keeps_and_colours_what_arrived(settings, fake_openai):
    text = "```python\n" + "\n".join(f"x_{i} = {i}" for i in range(6000)) + "\n```\n"
    cut = len(text) * 9 // 10  # most of it at once, more than a frame's work to colour …
    fake_openai.script(Reply(text, chunks=[text[:cut], text[cut:]]))
    fake_openai.chunk_delay = 3.0  # … and the rest after Esc
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("PromptInput").insert("code please")
        await pilot.press("enter")
        code = None
        for _ in range(400):
            await pilot.pause(0.05)
            view = app.screen.streaming
            code = next((p for p in view.parts if isinstance(p, CodeBlock)), None) if view else None
            if code is not None and code.fence.children:
                break
        assert code is not None, "the code block never showed"
        await pilot.press("escape")
        await until_shown(pilot)
        reply = app.screen.transcript.views[-1]
        assert reply.message.status == "cut"
        assert code._plain is None and not code.behind  # then coloured, chunk by chunk
        stored = reply.message.content.split("\n", 1)[1].rstrip("`\n")
        assert _code_text(code).rstrip("\n") == stored.rstrip("\n")


@pytest.mark.parametrize("hurry", [True, False])
async def test_a_code_block_in_a_hurry_shows_every_line_at_once_then_colours_it(hurry):
    from textual.app import App

    text = "```python\n" + "\n".join(f"x_{i} = {i}" for i in range(1000)) + "\n"
    splitter = Splitter()
    splitter.feed(text)
    block = splitter.blocks[-1]
    code = CodeBlock(block, deadline=0.0)  # one chunk a step: every deadline has passed
    async with App().run_test() as pilot:
        await pilot.app.mount(code)
        await code.grow(block, deadline=0.0, hurry=hurry)
        shown = _code_text(code)
        assert (shown == block.source) is hurry  # Esc (or the end): the rest at once, plain
        steps = 0
        while code.behind:
            await code.grow(block, deadline=0.0, hurry=hurry)
            assert _code_text(code) == block.source if hurry else True  # never twice, no gap
            steps += 1
        assert steps > 10 and code._plain is None
        await pilot.pause()
        assert _code_text(code) == block.source
        assert all(static.content.spans for static in code.fence.children)  # all coloured


async def test_code_shown_plain_in_a_hurry_is_text_never_markup_nor_controls():
    from textual.app import App

    from chatmem.text import visible

    hostile = visible('x = "[bold]unclosed [ \x1b[2J\x1b]52;c;AAAA\x07"')  # as the edge passes it
    text = "```python\n" + "\n".join(f"{hostile}  # {i}" for i in range(300)) + "\n"
    splitter = Splitter()
    splitter.feed(text)
    block = splitter.blocks[-1]
    code = CodeBlock(block, deadline=0.0)
    async with App().run_test() as pilot:
        await pilot.app.mount(code)
        await code.grow(block, deadline=0.0, hurry=True)
        assert code._plain is not None  # the rest is shown plain …
        shown = _code_text(code)
        assert shown == block.source  # … as the very text: "[bold]" and "[" stay as typed
        assert "\x1b" not in shown and "␛[2J" in shown


@pytest.mark.parametrize("line", ["x" * 1_000_000, "- " + "word " * 200_000])
def test_a_huge_single_line_is_a_paragraph_rendered_by_parts(line):
    assert [kind for kind, _, _ in blocks(line)] == ["para"]
    assert blocks(line, 70_000) == blocks(line)


async def test_a_one_megabyte_line_streams_and_quit_still_answers(settings, fake_openai):
    text = "".join(map(str, range(200_000)))[:1_000_000]  # "y" * 10**6 is stopped as a loop
    fake_openai.script(
        Reply(text, chunks=[text[i : i + 20_000] for i in range(0, len(text), 20_000)])
    )
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("PromptInput").insert("one long line")
        await pilot.press("enter")
        await until_shown(pilot)
        view = app.screen.transcript.views[-1]
        assert view.message.content == text
        assert isinstance(view.parts[-1], Paragraph)
        await pilot.press("ctrl+q")
        await pilot.pause(0.5)
    assert app.return_code is not None or not app.is_running
