"""The real app driven by Textual's pilot, against the fake server and real store files."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from chatmem import protocol as p
from chatmem.store.profile import Profile
from chatmem.ui.widgets.banner import Banner
from chatmem.ui.widgets.prompt import PromptInput
from tests.fake_openai import Error, Reply
from tests.harness import make_app, settle

SIZE = (100, 30)


def views(app):
    return list(app.screen.transcript.views)


def stored(settings) -> list[p.ChatMessage]:
    with Profile.open(Path(settings.data_dir), settings.profile) as profile:
        session = profile.sessions.latest()
        return profile.sessions.recent(session.id, 1000)[0] if session else []


async def type_and_send(pilot, text: str) -> None:
    pilot.app.screen.query_one(PromptInput).insert(text)
    await pilot.press("enter")
    await settle(pilot)


async def test_send_and_stream_a_reply(settings):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_and_send(pilot, "Hello")
        shown = [v.message for v in views(app)]
        assert [m.content for m in shown] == ["Hello", "Echo: Hello"]
        assert app.screen.query_one(PromptInput).text == ""
    assert [m.content for m in stored(settings)] == ["Hello", "Echo: Hello"]


async def test_enter_on_empty_prompt_sends_nothing_and_ctrl_j_adds_a_line(settings, fake_openai):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert not fake_openai.chat_requests()
        await pilot.press("a", "ctrl+j", "b")
        assert app.screen.query_one(PromptInput).text == "a\nb"
        await pilot.press("enter")
        await settle(pilot)
    assert fake_openai.chat_requests()[-1].said[-1] == "a\nb"


async def test_escape_cancels_and_keeps_the_partial_reply(settings, fake_openai):
    fake_openai.chunk_delay = 0.05
    fake_openai.script(Reply("slow words " * 100))
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one(PromptInput).insert("go")
        await pilot.press("enter")
        while not app.screen.streaming or not app.screen.streaming.parts[-1].source:
            await pilot.pause(0.05)
        await pilot.press("escape")
        await settle(pilot)
        reply = views(app)[-1].message
        assert reply.status == "cut" and reply.content
        assert ("slow words " * 100).startswith(reply.content)
        assert "cut off" in str(views(app)[-1].header.render())
    assert stored(settings)[-1].status == "cut"


async def test_an_error_shows_a_banner_and_ctrl_r_resends(settings, fake_openai):
    fake_openai.script(Error(500, "overloaded"))
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_and_send(pilot, "are you there?")
        banner = app.screen.query_one(Banner)
        assert banner.display and "500" in str(banner.render())
        assert views(app)[-1].message.status == "failed"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert not banner.display
        assert [v.message.content for v in views(app)] == ["are you there?", "Echo: are you there?"]
        assert views(app)[0].message.status == "ok"
    assert [m.status for m in stored(settings)] == ["ok", "ok"]


async def test_the_hints_name_the_keys_the_keymap_gave(settings, fake_openai):
    fake_openai.script(Error(500, "overloaded"))
    app = make_app(replace(settings, keymap={"resend": "f9", "settings": "f12"}))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_and_send(pilot, "are you there?")
        banner = str(app.screen.query_one(Banner).render())
        assert "Press F9 to resend your message." in banner and "Ctrl+R" not in banner
        assert "F9 to resend" in str(views(app)[-1].header.render())
        await pilot.press("f9")
        await settle(pilot)
        assert views(app)[-1].message.content == "Echo: are you there?"


async def test_a_reply_in_flight_keeps_the_next_message_in_the_editor(settings, fake_openai):
    fake_openai.chunk_delay = 0.05
    fake_openai.script(Reply("x " * 60))
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one(PromptInput).insert("first")
        await pilot.press("enter")
        while app.screen.inflight is None:
            await pilot.pause(0.02)
        app.screen.query_one(PromptInput).insert("second")
        await pilot.press("enter")
        assert app.screen.query_one(PromptInput).text == "second"
        await settle(pilot)


async def test_too_large_message_goes_back_into_the_editor(settings):
    app = make_app(replace(settings, context_window=300))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_and_send(pilot, "long " * 500)
        assert app.screen.query_one(PromptInput).text == "long " * 500
        assert "too long" in str(app.screen.query_one(Banner).render())
    assert stored(settings) == []


async def test_quit_and_resume(settings):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_and_send(pilot, "keep me")
        await pilot.press("ctrl+q")
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert [v.message.content for v in views(app)] == ["keep me", "Echo: keep me"]
    app = make_app(settings, new_session=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert views(app) == []


def unconfigured(settings):
    return replace(settings, api_key="", model="", base_url="https://api.openai.com/v1")


async def open_settings(pilot, base_url: str):
    await settle(pilot)
    await pilot.press("f2")
    await pilot.pause()
    pilot.app.screen.query_one("#base_url").value = base_url
    return pilot.app.screen


async def test_first_run_then_settings_then_the_kept_message_is_sent(settings, fake_openai):
    app = make_app(unconfigured(settings))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(Banner)
        assert banner.display and "No model is configured" in str(banner.render())
        await type_and_send(pilot, "waiting for a model")
        assert views(app)[-1].message.status == "failed"
        screen = await open_settings(pilot, fake_openai.url)
        screen.query_one("#api_key").value = "sk-test"
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert "test-model" in [
            str(screen.query_one("#models").get_option_at_index(i).prompt)
            for i in range(screen.query_one("#models").option_count)
        ]
        screen.query_one("#model").value = "test-model"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.settings.model == "test-model"
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert views(app)[-1].message.content == "Echo: waiting for a model"
    assert 'model = "test-model"' in Path(settings.config_path).read_text()


async def test_older_messages_load_when_scrolled_to_the_top(settings):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for i in range(30):
            app.send(p.SendMessage(f"m{i}"))
        await settle(pilot)
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(views(app)) == 30 and app.screen.has_older
        for _ in range(2):
            app.screen.query_one("#messages").scroll_home(animate=False)
            await pilot.pause(0.1)
            await settle(pilot)
        assert len(views(app)) == 60 and views(app)[0].message.content == "m0"


async def test_theme_choice_persists(settings):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.theme = "chatmem-light"
        await settle(pilot)
    assert 'theme = "chatmem-light"' in Path(settings.config_path).read_text()


async def test_mounted_messages_are_capped(settings):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for i in range(50):
            app.send(p.SendMessage(f"m{i}"))
            await settle(pilot)
        assert len(views(app)) <= 40 and app.screen.has_older
        await asyncio.sleep(0)


async def test_pasted_text_keeps_its_lines_and_a_huge_paste_is_kept(settings, fake_openai):
    from textual import events

    app = make_app(replace(settings, context_window=4000))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        prompt = app.screen.query_one(PromptInput)
        app.post_message(events.Paste("line one\nline two\n\tindented"))
        await pilot.pause()
        assert prompt.text == "line one\nline two\n\tindented"
        await pilot.press("enter")
        await settle(pilot)
        sent = fake_openai.chat_requests()[-1].said[-1]
        assert sent == "line one\nline two\n\tindented"
        huge = "a paragraph of pasted text.\n" * 20_000
        app.post_message(events.Paste(huge))
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        assert prompt.text == huge  # too long for the window: refused, and still in the editor
        assert len(fake_openai.chat_requests()) == 1


async def test_settings_refuse_a_local_server_without_a_model(settings, fake_openai):
    app = make_app(unconfigured(settings))
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_settings(pilot, fake_openai.url)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen and "Name a model" in str(screen.query_one("#hint").render())
        await pilot.press("ctrl+l")
        await settle(pilot)
        await pilot.press("down", "enter")  # the list has focus: pick the second model
        assert screen.query_one("#model").value == "test-model"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is not screen and app.settings.configured


async def test_slash_commands_remember_forget_and_undo(settings):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_and_send(pilot, "/remember my locker code is 4512")
        assert not views(app)  # a command, not a message
        notes = [n.message for n in app._notifications]
        assert any("Remembered (fact): my locker code is 4512" in str(n) for n in notes)
        await pilot.press("f4")
        await settle(pilot)
        assert any("Undone" in str(n.message) for n in app._notifications)
        await type_and_send(pilot, "/forget locker")
        assert any("No memory matches" in str(n.message) for n in app._notifications)
