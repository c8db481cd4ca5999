"""Long replies: split into blocks, folded above the viewport, unfolded on scroll."""

from __future__ import annotations

from textual.app import App

from chatmem.protocol import ChatMessage
from chatmem.ui.blocks import GROUP_CHARS
from chatmem.ui.widgets.message import MessageView
from chatmem.ui.widgets.text_block import TextBlock
from chatmem.ui.widgets.transcript import MAX_MOUNTED, Transcript
from tests.fake_openai import Reply
from tests.harness import make_app, settle
from tests.test_streaming import until_shown

SIZE = (100, 30)


async def test_a_long_streamed_reply_is_segmented_folded_and_unfolded(settings, fake_openai):
    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(120)]
    fence = "```\n" + "\n\n".join(f"line {i}" for i in range(30)) + "\n```"
    text = "\n\n".join([*paragraphs[:60], fence, *paragraphs[60:]]) + "\n"
    chunks = [text[i : i + 7] for i in range(0, len(text), 7)]
    fake_openai.script(Reply(text, chunks=chunks))
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("PromptInput").insert("tell me a lot")
        await pilot.press("enter")
        await until_shown(pilot)
        transcript = app.screen.transcript
        reply = transcript.views[-1]
        segments = [part for part in reply.parts if isinstance(part, TextBlock)]
        assert len(segments) >= len(text) // (2 * GROUP_CHARS)
        assert "\n\n".join(s.source for s in segments).startswith(text[: GROUP_CHARS * 2])
        assert all(s.source.count("```") % 2 == 0 for s in segments)

        height = transcript.virtual_size.height
        shown = [child for child in transcript.children if child.display]
        assert len(shown) < len(transcript.children) // 2  # folded above the viewport
        assert transcript.spacer.display and transcript.scroll_y == transcript.max_scroll_y

        transcript.scroll_home(animate=False)
        await pilot.pause(0.3)
        assert all(child.display for child in transcript.children[1:])
        assert not transcript.spacer.display
        assert transcript.virtual_size.height == height  # folding never changed the length
        assert reply.parts[0].region.y <= transcript.region.y + 4


class _Host(App):
    def compose(self):
        yield Transcript(id="messages")


def _views(start: int, count: int) -> list[MessageView]:
    keys = {"resend": "Ctrl+R", "stop_reply": "Esc"}
    return [
        MessageView(ChatMessage(f"m{i}", "user", f"message {i}\nsecond line", 0.0), keys)
        for i in range(start, start + count)
    ]


async def test_the_oldest_make_room_only_while_the_reader_follows_the_bottom():
    app = _Host()
    async with app.run_test(size=(60, 20)) as pilot:
        transcript = app.query_one(Transcript)
        await transcript.show(_views(0, MAX_MOUNTED))
        await pilot.pause()
        assert await transcript.append(_views(MAX_MOUNTED, 1)[0])  # following: trimmed
        await pilot.pause()
        assert len(transcript.views) == MAX_MOUNTED

        transcript.scroll_to(y=10, animate=False)
        transcript.release_anchor()  # what a scroll by the user does
        await pilot.pause()
        before = transcript.views[0].parts[0].region.y
        assert not await transcript.append(_views(MAX_MOUNTED + 1, 1)[0])
        await pilot.pause()
        assert len(transcript.views) == MAX_MOUNTED + 1  # nothing pulled from under the reader
        assert transcript.views[0].parts[0].region.y == before


async def test_a_long_chat_keeps_a_bounded_number_of_messages_mounted(settings, fake_openai):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for i in range(MAX_MOUNTED // 2 + 5):
            app.screen.query_one("PromptInput").insert(f"question {i}")
            await pilot.press("enter")
            await settle(pilot)
        transcript = app.screen.transcript
        assert len(transcript.views) <= MAX_MOUNTED + 1
        assert transcript.views[-1].message.content == f"Echo: question {MAX_MOUNTED // 2 + 4}"
        assert app.screen.has_older  # the unmounted ones come back on scrolling up
