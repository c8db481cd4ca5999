"""The sessions screen driven by keys; what changed is read back from the worker's store."""

from __future__ import annotations

from pathlib import Path

from chatmem import protocol as p
from chatmem.store.profile import Profile
from chatmem.ui.screens.forms import Ask, Confirm
from chatmem.ui.screens.sessions import SessionsScreen
from tests.harness import FIXED_TIME, make_app, settle
from tests.seed import seed

SIZE = (110, 32)


def sessions_store(app):
    return app.link.worker.profile.sessions


async def open_sessions(pilot) -> SessionsScreen:
    await settle(pilot)
    await pilot.press("f5")
    await settle(pilot)
    assert isinstance(pilot.app.screen, SessionsScreen)
    return pilot.app.screen


async def highlight(pilot, session_id: str) -> None:
    screen = pilot.app.screen
    ids = [row.session.id for row in screen.listing.rows]
    screen.query_one("#sessions").highlighted = ids.index(session_id)
    await settle(pilot)


async def answer(pilot, text: str) -> None:
    assert isinstance(pilot.app.screen, Ask)
    pilot.app.screen.query_one("#answer").value = text
    await pilot.press("enter")
    await settle(pilot)


async def test_search_then_enter_opens_the_session_at_that_message(settings):
    seed(settings)
    app = make_app(settings, new_session=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_sessions(pilot)
        assert [r.session.id for r in screen.listing.rows][1:] == ["s-bees", "s-lisbon"]
        await pilot.press("slash", *"landscape")
        await settle(pilot)
        assert [hit.message_id for hit in screen.results.hits] == ["u2"]
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.screen is app.chat and app.chat.session_id == "s-lisbon"
        assert app.chat.title == "Lisbon plans"
        assert [v.message.id for v in app.chat.transcript.views] == ["u1", "a1", "u2", "a2"]


async def test_rename_delete_with_memories_and_new(settings):
    seed(settings)
    app = make_app(settings)  # resumes s-bees
    async with app.run_test(size=SIZE) as pilot:
        await open_sessions(pilot)
        await highlight(pilot, "s-lisbon")
        await pilot.press("r")
        await answer(pilot, "Anna's move")
        assert sessions_store(app).get("s-lisbon").title == "Anna's move"
        await pilot.press("d")
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")  # not deleted
        await settle(pilot)
        assert sessions_store(app).get("s-lisbon") is not None
        await pilot.press("d", "m")
        await settle(pilot)
        assert sessions_store(app).get("s-lisbon") is None
        memories = app.link.worker.memory.store
        assert memories.get("m-anna") is None and memories.get("m-bees") is not None
        await highlight(pilot, "s-bees")
        await pilot.press("d", "y")  # the one in the chat: the chat moves on
        await settle(pilot)
        assert memories.get("m-journal-bees") is not None
        assert app.chat.session_id not in ("s-bees", "s-lisbon")
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is app.chat and len(sessions_store(app).list()) == 2


async def test_export_from_the_screen(settings):
    seed(settings)
    app = make_app(settings, new_session=True)
    async with app.run_test(size=SIZE) as pilot:
        await open_sessions(pilot)
        await highlight(pilot, "s-lisbon")
        await pilot.press("x")
        assert app.screen.query_one("#answer").value == "lisbon-plans.md"
        await pilot.press("enter")
        await settle(pilot)
        assert Path("lisbon-plans.md").read_text().startswith("# Lisbon plans")
        await pilot.press("x")
        await answer(pilot, "lisbon.json")
        await pilot.press("i")
        await answer(pilot, "lisbon.json")
        titles = [row.session.title for row in app.screen.listing.rows]
        assert titles.count("Lisbon plans") == 2


async def test_switching_profiles(settings):
    seed(settings)
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_sessions(pilot)
        await pilot.press("p")
        await answer(pilot, "work")
        assert app.screen is app.chat and app.settings.profile == "work"
        assert app.chat.sub_title == "gpt-4o-mini · profile work"
        assert app.chat.transcript.views == []
        await pilot.press("f5")
        await settle(pilot)
        assert app.screen.listing.profiles == ("default", "work")
        await pilot.press("p")
        await answer(pilot, "default")
        assert app.chat.session_id == "s-bees"


async def test_a_session_opened_far_back_loads_the_rest_as_you_scroll(settings):
    with Profile.open(Path(settings.data_dir), "default") as profile:
        profile.sessions.create(FIXED_TIME, "Long", session_id="s-long")
        profile.sessions.extend(
            "s-long",
            [
                p.ChatMessage(f"m{i}", "assistant" if i % 2 else "user", f"line {i}", FIXED_TIME)
                for i in range(300)
            ],
        )
    app = make_app(settings, new_session=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.send(p.OpenSession("s-long", "m100"))
        await settle(pilot)
        chat = app.chat
        assert chat.has_newer and chat.transcript.views[0].message.id == "m98"
        for _ in range(10):
            if not chat.has_newer:
                break
            chat.transcript.scroll_end(animate=False)
            await settle(pilot)
        assert not chat.has_newer and chat.transcript.views[-1].message.id == "m299"
        app.send(p.OpenSession("s-long", "m100"))
        await settle(pilot)
        await pilot.press(*"hello", "enter")  # from the middle: back to the end, where it goes
        await settle(pilot)
        assert [v.message.content for v in chat.transcript.views[-3:]] == [
            "line 299",
            "hello",
            "Echo: hello",
        ]
