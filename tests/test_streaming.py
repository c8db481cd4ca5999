"""Long replies of every shape: cut into blocks the same way streamed or whole, shown the same
way streamed or reopened, Esc stopping at once, and nothing typed lost."""

from __future__ import annotations

import random
import re

import pytest

from chatmem.ui.blocks import LIST_SPLIT, Block, Splitter
from chatmem.ui.widgets.blocks import CodeBlock, Paragraph
from chatmem.ui.widgets.table import TableBlock, fit
from chatmem.ui.widgets.text_block import TextBlock
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

HOSTILE_CELL = "[bold]not bold[/] and [ alone \x1b[31m red"
NESTED = (
    "Intro.\n\n"
    + "\n".join(
        f"- point {i} {'with words that wrap ' * (i % 3)}`code {i}`\n  - sub {i}\n  - other {i}"
        for i in range(40)
    )
    + "\n\n| left | right | centre |\n|:--|--:|:-:|\n"
    + "\n".join(f"| {i} | {i * 7} | " + "long cell " * (i % 9) + "|" for i in range(40))
    + "\n\nThe end."
)


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
        await pilot.pause(0.1)  # and laid out
        sizes.append(transcript.virtual_size)


def _screen(app) -> str:
    """The screen as SVG, without the ids that differ between two apps."""
    return re.sub(r"terminal-[0-9a-z-]+", "t", app.export_screenshot())


async def _reopened_wider(settings) -> str:
    """The screen of the conversation reopened, the sidebar hidden (the transcript wider)."""
    reopened = make_app(settings)
    async with reopened.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+b")
        await until_shown(pilot)
        return _screen(reopened)


@pytest.mark.parametrize("shape", [*SHAPES, "nested"])
async def test_a_streamed_reply_ends_shown_as_if_given_whole(settings, fake_openai, shape):
    text = {**SHAPES, "nested": NESTED}[shape]
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
    assert await _reopened_wider(settings) == shown


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


def _lines(widget) -> list[str]:
    return [widget.render_line(y).text for y in range(widget.size.height)]


async def _streamed(pilot, fake_openai, text: str, step: int):
    """The reply ``text`` streamed ``step`` characters a chunk, once it is on screen."""
    fake_openai.script(Reply(text, chunks=[text[i : i + step] for i in range(0, len(text), step)]))
    await settle(pilot)
    pilot.app.screen.query_one("PromptInput").insert("go")
    await pilot.press("enter")
    await until_shown(pilot)
    return pilot.app.screen.transcript.views[-1]


@pytest.mark.parametrize("shape", ["list", "table", "many"])
async def test_a_reply_is_a_few_widgets_whatever_its_shape(settings, fake_openai, shape):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        view = await _streamed(pilot, fake_openai, SHAPES[shape], 50)
        widgets = sum(1 for _ in app.screen.transcript.walk_children())
        assert widgets <= 3 * len(view.parts)  # a Markdown widget tree is dozens
        if shape == "table":
            assert [type(part) for part in view.parts[1:]] == [TableBlock]


MARKDOWN_SAMPLES = [
    "# Title\n\nSome *text* that is long enough to wrap around the width twice, maybe more.\n\n"
    "## Sub\n\n- one\n- two `code`\n  - nested a\n  - nested b\n- three\n\n1. first\n"
    "2. second\n\n> a quote that is long enough to wrap at this width for sure\n> more\n\n"
    "---\n\n### H3\n\ntext after\n",
    "Intro:\n\n```python\ndef f(x):\n    return x\n```\n\n- item with para\n\n  second para\n"
    "- next\n\n#### H4\n##### H5\n###### H6\n",
    "10. ten\n11. eleven\n\n> quote\n> > nested\n\n- a\n  ```\n  code in list\n  ```\n"
    "\n**bold** _it_ ~~s~~ [link](http://x) `code` and a long line that wraps "
    + "word " * 20
    + "\\\na hard break, and another  \nthen the end",
]


def _rows(svg: str) -> list[str]:
    """The text of a screenshot, a line a row (styles aside)."""
    rows: dict[float, dict[int, str]] = {}
    for x, y, text in re.findall(r'<text [^>]*x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)<', svg):
        row = rows.setdefault(float(y), {})
        for offset, char in enumerate(text.replace("&#160;", " ")):
            row[round(float(x) / 12.2) + offset] = char  # (12.2: a cell's width in the SVG)
    lines = ["".join(row.get(x, " ") for x in range(max(row) + 1)) for row in rows.values()]
    return [line.rstrip() for line in lines]


@pytest.mark.parametrize("sample", range(len(MARKDOWN_SAMPLES)))
async def test_a_text_block_is_laid_out_as_textual_markdown_lays_it_out(sample):
    from textual.app import App
    from textual.widgets import Markdown

    source = MARKDOWN_SAMPLES[sample]
    block = Block("text", lines=source.split("\n"), closed=True)
    screens = []
    for widget in (Markdown(source), TextBlock(block)):
        app = App()
        async with app.run_test(size=(50, 60)) as pilot:
            widget.styles.padding = (0, 1)
            await app.mount(widget)
            await pilot.pause(0.2)
            screens.append(_rows(app.export_screenshot()))
    assert screens[0] == screens[1]


def test_tables_are_blocks_of_their_own_from_their_header_on():
    text = "Here:\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\nAfter.\n"
    assert [kind for kind, _, _ in blocks(text)] == ["text", "table", "text"]
    assert blocks(text)[1][2] == "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"
    for most in (1, 3, 7):
        assert blocks(text, most) == blocks(text)
    assert [kind for kind, _, _ in blocks("```\nx\n```\n|---|\n\n|---|\n")] == ["text"]
    assert [kind for kind, _, _ in blocks("a | b\n--- | ---\n1 | 2\n# Title\n")] == [
        "table",
        "text",
    ]
    assert [kind for kind, _, _ in blocks("| a | b |\n|---|\n")] == ["text"]  # not a table
    assert [kind for kind, _, _ in blocks("Title\n---\n")] == ["text"]  # a heading


def test_table_columns_fit_the_room_by_cutting_the_widest():
    assert fit([3, 5], 20) == [3, 5]
    widths = fit([2, 50, 30], 40)
    assert sum(widths) == 40 and widths[0] == 2 and widths[1] >= widths[2]
    assert fit([10, 10], 1) == [1, 1]


async def test_a_table_draws_cells_as_typed_aligned_and_wrapped():
    from textual.app import App

    from chatmem.text import visible

    text = "| n | square | note |\n|---|--:|:-:|\n" + "\n".join(
        f"| {i} | {i * i} | {visible(HOSTILE_CELL)} |" for i in range(5)
    )
    text += "\n| x | y | " + "word " * 40 + "|"
    splitter = Splitter()
    splitter.feed(text)
    block = splitter.blocks[-1]
    table = TableBlock(block, deadline=0.0)  # one row a step: every deadline has passed
    assert table.behind
    async with App().run_test(size=(60, 30)) as pilot:
        await pilot.app.mount(table)
        while table.behind:
            table.take(block, deadline=0.0)
        splitter.finish()  # the last row, without its newline, once the reply is complete
        table.take(block)
        await pilot.pause()
        lines = _lines(table)
    assert lines[0].split() == ["n", "│", "square", "│", "note"]
    assert lines[2].startswith(" 0 │      0 │ ")  # right-aligned as its rule says
    assert "[bold]not bold[/] and [ alone ␛[31m red" in lines[2]  # text, never markup
    assert not any("\x1b" in line for line in lines)
    words = [line.split("│")[2] for line in lines[7:-1]]
    assert len(words) > 1 and " ".join(words).split() == ["word"] * 40  # wrapped in its column
    assert all(len(line.rstrip()) <= 60 for line in lines)


async def test_text_items_and_cells_of_outside_text_are_shown_as_typed(settings, fake_openai):
    text = (
        f"# {HOSTILE_CELL}\n\n> {HOSTILE_CELL}\n\n- {HOSTILE_CELL}\n- second `[b]` item\n\n"
        f"| a |\n|---|\n| {HOSTILE_CELL} |\n"
    )
    app = make_app(settings)
    async with app.run_test(size=(160, 40)) as pilot:
        view = await _streamed(pilot, fake_openai, text, 4)
        shown = "\n".join(line for part in view.parts[1:] for line in _lines(part))
    assert shown.count("[bold]not bold[/] and [ alone ␛[31m red") == 4
    assert "second [b] item" in shown and "\x1b" not in shown


async def test_a_reply_widened_shows_as_a_reopened_one(settings, fake_openai):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await _streamed(pilot, fake_openai, NESTED, 50)
        await pilot.press("ctrl+b")  # the sidebar goes: the transcript is wider
        await until_shown(pilot)
        wider = _screen(app)
    assert await _reopened_wider(settings) == wider
