"""A killed worker: the next one starts where the user was, and nothing shown is lost."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.store.profile import Profile
from chatmem.ui.link import SubprocessLink
from chatmem.ui.widgets.prompt import PromptInput
from tests.fake_openai import Reply
from tests.test_link import Events, started

ROOT = Path(__file__).resolve().parent.parent
SIZE = (100, 30)


@pytest.fixture(autouse=True)
def child_imports_this_checkout(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


async def ask(worker: SubprocessLink, events: Events, text: str) -> p.ChatMessage:
    done = len([e for e in events.items if isinstance(e, p.ReplyDone)])
    worker.send(p.SendMessage(text))
    return (await events.wait_for(p.ReplyDone, done + 1)).message


async def loaded(worker: SubprocessLink, events: Events, request: p.Request) -> p.SessionLoaded:
    count = len([e for e in events.items if isinstance(e, p.SessionLoaded)])
    worker.send(request)
    return await events.wait_for(p.SessionLoaded, count + 1)


async def test_a_restart_keeps_the_session_model_and_profile_chosen(settings, fake_openai):
    worker, events = started(settings)
    await events.wait_for(p.SessionLoaded)
    await ask(worker, events, "in the default profile")
    worker.send(p.SaveSettings({"model": "test-model"}))  # F2
    await events.wait_for(p.SettingsSaved)
    await loaded(worker, events, p.SwitchProfile("work"))  # F5
    await ask(worker, events, "first at work")
    first = [e for e in events.items if isinstance(e, p.SessionLoaded)][-1].session
    await loaded(worker, events, p.EndSession())
    await ask(worker, events, "second at work")
    back = await loaded(worker, events, p.OpenSession(first.id))  # an older conversation
    assert back.session.id == first.id
    os.kill(worker.pid, signal.SIGKILL)
    await events.wait_for(p.WorkerDown)
    resumed = await events.wait_for(p.SessionLoaded, len(events.of(p.SessionLoaded)) + 1)
    assert resumed.session.id == first.id
    assert resumed.settings.profile == "work" and resumed.settings.model == "test-model"
    await ask(worker, events, "after the crash")
    assert fake_openai.chat_requests()[-1].body["model"] == "test-model"
    await worker.close()
    with Profile.open(Path(settings.data_dir), "work") as profile:
        messages, _ = profile.sessions.recent(first.id, 10)
    assert [m.content for m in messages][-2:] == ["after the crash", "Echo: after the crash"]


async def test_message_counts_are_right_after_a_kill(settings):
    worker, events = started(settings)
    session = (await events.wait_for(p.SessionLoaded)).session
    await ask(worker, events, "message 0")
    await events.wait_for(p.SessionUpdated, 2)  # titled by the model: the index written then
    for n in range(1, 3):
        await ask(worker, events, f"message {n}")
    os.kill(worker.pid, signal.SIGKILL)
    await events.wait_for(p.WorkerDown)
    await events.wait_for(p.SessionLoaded, 2)
    with Profile.open(Path(settings.data_dir), "default", readonly=True) as profile:
        info = {s.id: s for s in profile.sessions.list()}[session.id]
    assert info.message_count == 6
    await worker.close()


async def test_a_reply_cut_by_a_dying_worker_is_kept_and_resent(settings, fake_openai):
    from tests.harness import make_app

    fake_openai.chunk_delay = 0.05
    fake_openai.script(Reply("slow words " * 60))
    app = make_app(settings)
    app.link = SubprocessLink()
    async with app.run_test(size=SIZE) as pilot:
        while not app.screen.session_id:
            await pilot.pause(0.05)
        app.screen.query_one(PromptInput).insert("go")
        await pilot.press("enter")
        while len("".join(app.screen.arrived)) < 20:
            await pilot.pause(0.05)
        os.kill(app.link.pid, signal.SIGKILL)
        while not app.screen.failed_id:
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        shown = [v.message for v in app.screen.transcript.views]
        assert [m.role for m in shown] == ["user", "assistant"]
        assert shown[1].status == "cut" and ("slow words " * 60).startswith(shown[1].content)
        assert len(shown[1].content) >= 20
        assert "cut off" in str(app.screen.query_one("#banner").render())
        await pilot.press("ctrl+r")
        while app.screen.transcript.views[-1].message.content != "Echo: go":
            await pilot.pause(0.05)
        await app.link.close()
    with Profile.open(Path(settings.data_dir), "default") as profile:
        session = profile.sessions.latest()
        stored, _ = profile.sessions.recent(session.id, 10)
    assert [(m.content[:10], m.status) for m in stored] == [
        ("go", "ok"),
        ("slow words", "cut"),
        ("Echo: go", "ok"),
    ]


async def test_a_message_not_yet_stored_when_the_worker_dies_goes_back_to_the_editor(settings):
    from tests.harness import make_app

    app = make_app(settings)
    app.link = SubprocessLink()
    async with app.run_test(size=SIZE) as pilot:
        while not app.screen.session_id:
            await pilot.pause(0.05)
        os.kill(app.link.pid, signal.SIGSTOP)  # it reads nothing more
        app.screen.query_one(PromptInput).insert("typed while it hung")
        await pilot.press("enter")
        await pilot.pause(0.1)
        os.kill(app.link.pid, signal.SIGKILL)
        prompt = app.screen.query_one(PromptInput)
        for _ in range(200):
            if prompt.text:
                break
            await pilot.pause(0.05)
        assert prompt.text == "typed while it hung"
        await app.link.close()
