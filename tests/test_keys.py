"""The keyboard always wins: a burst typed at start-up reaches the command whole, the slash
menu never acts on text it has not seen, and the transcript scrolls from the keyboard."""

from __future__ import annotations

from dataclasses import replace

from textual import events
from textual.keys import _character_to_key

from chatmem import protocol as p
from chatmem.ui.widgets.transcript import Transcript
from tests.fake_openai import Reply
from tests.harness import make_app, settle
from tests.seed import seed

SIZE = (100, 30)
TEXT = "/remember My sister Alice lives in Lisbon"


def burst(app, text: str) -> None:
    """Queue keys as a paste or a fast typist delivers them, none handled in between."""
    for character in text:
        key = _character_to_key(character)
        app.post_message(events.Key(key, character))
    app.post_message(events.Key("enter", "\r"))


def _recording(app) -> list[p.Request]:
    sent: list[p.Request] = []
    send = app.link.send

    def record(request: p.Request) -> None:
        sent.append(request)
        send(request)

    app.link.send = record
    return sent


async def test_a_burst_typed_at_start_up_runs_the_whole_command(settings):
    app = make_app(settings)
    sent = _recording(app)
    async with app.run_test(size=SIZE) as pilot:
        burst(app, TEXT)  # all queued at once: before the menu has caught up
        await settle(pilot)
        assert [r.text for r in sent if isinstance(r, p.Remember)] == [TEXT.split(" ", 1)[1]]
        await pilot.press("/")  # the menu opens, showing every command …
        await pilot.pause()
        burst(app, TEXT[1:])  # … and the rest comes before it has followed
        await settle(pilot)
        assert [r.text for r in sent if isinstance(r, p.Remember)] == [TEXT.split(" ", 1)[1]] * 2
        assert app.screen.query_one("PromptInput").text == ""
        assert app.screen is app.chat  # not the help screen the stale menu pointed at


async def test_what_is_typed_after_enter_is_the_next_text_never_part_of_the_last(
    settings, fake_openai
):
    fake_openai.script(Reply("a long answer " * 2000, chunks=["a long answer "] * 2000))
    fake_openai.chunk_delay = 0.01  # still streaming when the next message is entered
    app = make_app(settings)
    sent = _recording(app)
    async with app.run_test(size=SIZE) as pilot:
        burst(app, TEXT)
        burst(app, "first question")  # typed before the command above has run
        for _ in range(200):
            await pilot.pause(0.05)
            if app.screen.streaming is not None:
                break
        burst(app, "second question")  # entered while the first one's reply streams …
        for character in "third":  # … and typed on before it was refused
            app.post_message(events.Key(_character_to_key(character), character))
        await settle(pilot)
        assert [r.text for r in sent if isinstance(r, p.Remember)] == [TEXT.split(" ", 1)[1]]
        assert [r.text for r in sent if isinstance(r, p.SendMessage)] == ["first question"]
        assert app.screen.query_one("PromptInput").text == "second question\nthird"
        await pilot.press("escape")


async def test_a_slash_command_typed_whole_and_entered_runs_as_typed(settings):
    app = make_app(settings)
    sent = _recording(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*"/remember x", "enter")
        await settle(pilot)
        assert [r.text for r in sent if isinstance(r, p.Remember)] == ["x"]


async def test_the_transcript_scrolls_from_the_keyboard(settings, fake_openai):
    text = "\n\n".join(f"Paragraph {i}." for i in range(80))
    fake_openai.script(Reply(text))
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("PromptInput").insert("many paragraphs")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.pause(0.2)
        transcript = app.screen.query_one(Transcript)
        bottom = transcript.max_scroll_y
        assert bottom > 0 and transcript.scroll_y == bottom
        await pilot.press("pageup")
        await pilot.pause(0.1)
        assert transcript.scroll_y < bottom
        await pilot.press("tab")  # to the message list, where Home and End go
        assert app.screen.focused is transcript
        await pilot.press("home")
        await pilot.pause(0.1)
        assert transcript.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause(0.1)
        assert transcript.scroll_y > 0
        await pilot.press("end")
        await pilot.pause(0.1)
        assert transcript.scroll_y == transcript.max_scroll_y
        await pilot.press(*"hi")  # typing still goes to the prompt
        assert app.screen.query_one("PromptInput").text == "hi"


async def test_the_hints_name_the_keys_the_keymap_gave(settings):
    seed(settings)
    keymap = {"undo_memory": "f9", "memories.open_source": "g"}
    app = make_app(replace(settings, keymap=keymap), new_session=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        burst(app, "/remember I keep bees")
        await settle(pilot)
        notes = [str(n.message) for n in app._notifications]
        assert any(n.endswith("(F9 to undo)") for n in notes), notes
        assert not any("F4" in n for n in notes)
        await pilot.press("f3")
        await settle(pilot)
        app.browser.select("m-show")
        await settle(pilot)
        detail = str(app.screen.query_one("#detail-body").render())
        assert "Learnt in session s-lisbon, message u2 — g opens it" in detail
        await pilot.press("g")  # the key the hint names does what it says
        await settle(pilot)
        assert app.screen is app.chat and app.chat.session_id == "s-lisbon"


async def test_editing_keys_act_in_order_with_the_characters_typed_around_them(settings):
    """Backspace, arrows and the other editing keys are the editor's bindings: handled where
    a key bubbles up, after the characters typed just behind them had they not been taken
    at once (a fast Backspace then a letter rubbed out the letter)."""
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        keys = [("a", "a"), ("b", "b"), ("backspace", "\x7f"), ("c", "c"), ("left", None)]
        keys += [("d", "d"), ("home", None), ("e", "e"), ("end", None), ("f", "f")]
        for key, character in keys:
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert app.screen.query_one("PromptInput").text == "eadcf"
