"""The memory browser driven by keys; what changed is read back from the worker's store."""

from __future__ import annotations

from pathlib import Path

from chatmem import protocol as p
from chatmem.domain.memories import make_memory
from chatmem.store.profile import Profile
from chatmem.ui.screens.forms import Confirm, MemoryForm
from chatmem.ui.screens.memories import MemoryBrowser
from tests.fake_openai import Reply
from tests.harness import make_app, settle
from tests.seed import seed

SIZE = (120, 36)


def store(app):
    return app.link.worker.memory.store


def listed(app) -> list[str]:
    return [row.id for row in app.browser.rows]


def seeded(settings):
    """The app on the seeded profile, in a new session."""
    seed(settings)
    return make_app(settings, new_session=True)


async def open_browser(pilot) -> MemoryBrowser:
    await settle(pilot)
    await pilot.press("f3")
    await settle(pilot)
    assert isinstance(pilot.app.screen, MemoryBrowser)
    return pilot.app.screen


async def open_at(pilot, memory_id: str) -> None:
    await open_browser(pilot)
    pilot.app.browser.select(memory_id)
    await settle(pilot)


async def filter_by(pilot, text: str) -> None:
    await pilot.press("slash")
    pilot.app.screen.query_one("#filter").value = text
    await settle(pilot)


async def fill(pilot, **values: str) -> None:
    form = pilot.app.screen
    assert isinstance(form, MemoryForm)
    for key, value in values.items():
        form.query_one(f"#field-{key}").value = value
    await pilot.press("ctrl+s")
    await settle(pilot)


async def test_groups_counts_and_filters(settings):
    app = seeded(settings)
    async with app.run_test(size=SIZE) as pilot:
        browser = await open_browser(pilot)
        assert browser.counts == {
            "self": 1, "person": 1, "event": 1, "fact": 2, "conversation": 2, "all": 7
        }  # fmt: skip
        assert listed(app) == [
            "m-madrid", "m-journal-bees", "m-bees", "m-journal", "m-show", "m-anna", "m-self"
        ]  # fmt: skip
        await filter_by(pilot, "anna")
        assert listed(app) == ["m-journal", "m-show", "m-anna"]
        assert browser.counts["event"] == 1 and browser.counts["fact"] == 0
        await filter_by(pilot, "anna type:person")
        assert listed(app) == ["m-anna"]
        await filter_by(pilot, "berlin")
        assert listed(app) == []  # superseded: hidden until s shows them
        await pilot.press("down", "s")
        await settle(pilot)
        assert listed(app) == ["m-berlin"]
        await filter_by(pilot, "after:2026-10-01")
        assert listed(app) == ["m-show"]
        await filter_by(pilot, "")
        await pilot.press("shift+tab", "up")  # from the filter to the groups: Conversations
        await settle(pilot)
        assert listed(app) == ["m-journal-bees", "m-journal"]
        assert [m.id for m in browser.record.transcript] == ["u3", "a3"]
        await pilot.press("escape")
        assert app.screen is app.chat


async def test_add_with_validation_then_edit_undo_delete_and_pin(settings):
    app = seeded(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(pilot)
        before = len(store(app))
        await pilot.press("a")
        await fill(pilot, note="  ", source="a book")
        form = app.screen
        assert isinstance(form, MemoryForm) and "required" in str(
            form.query_one("#problem-note").render()
        )
        assert len(store(app)) == before  # nothing saved half-way
        await fill(pilot, note="Tom plays cello", source="")
        assert not isinstance(app.screen, MemoryForm)
        tom = next(m for m in store(app) if m.fields.get("note") == "Tom plays cello")
        assert app.browser.selected == tom.id

        await pilot.press("e")
        await fill(pilot, note="Tom plays viola")
        assert store(app).get(tom.id).fields["note"] == "Tom plays viola"
        assert store(app).get(tom.id).history[-1].fields["note"] == "Tom plays cello"
        await pilot.press("u")
        await settle(pilot)
        assert store(app).get(tom.id).fields["note"] == "Tom plays cello"

        await pilot.press("p")
        await settle(pilot)
        assert store(app).get(tom.id).pinned

        await pilot.press("d")
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await settle(pilot)
        assert store(app).get(tom.id) is not None
        await pilot.press("d", "y")
        await settle(pilot)
        assert store(app).get(tom.id) is None and tom.id not in listed(app)


async def test_an_event_form_resolves_dates_and_refuses_what_it_cannot(settings):
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(pilot)
        await pilot.press("a")
        app.screen.query_one("#form-kind").value = "event"
        await settle(pilot)
        await fill(pilot, note="Dentist", dates="tomorrow, someday")
        assert "someday" in str(app.screen.query_one("#problem-dates").render())
        await fill(pilot, dates="tomorrow, 3 October")
        event = next(m for m in store(app) if m.kind == "event")
        assert event.fields["dates"] == ["2026-09-22", "2026-10-03"]  # said on 2026-09-21


async def test_editing_the_self_logs_an_event(settings):
    app = seeded(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_at(pilot, "m-self")
        await pilot.press("e")
        await fill(pilot, name="Ada", relation="friend")  # refused: there is one self
        problem = str(app.screen.query_one("#problem-relation").render())
        assert "the assistant's own record keeps the relation 'self'" in problem
        assert store(app).get("m-self").fields["name"] == "Assistant"  # nothing saved
        await fill(pilot, relation="self")
        me = store(app).get("m-self")
        assert me.fields["name"] == "Ada" and me.fields["relation"] == "self"
        notes = [m.fields["note"] for m in store(app) if m.kind == "event"]
        assert "My name changed from Assistant to Ada." in notes
        await pilot.press("d")
        await settle(pilot)
        assert store(app).get("m-self") is not None and not isinstance(app.screen, Confirm)


async def test_changes_from_elsewhere_show_up_and_pins_reach_the_next_request(
    settings, fake_openai
):
    app = seeded(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(pilot)
        app.send(p.Remember("I am learning Portuguese"))  # as extraction would, while open
        await settle(pilot)
        assert store(app).get(listed(app)[0]).fields["note"] == "I am learning Portuguese"
        app.browser.select("m-bees")
        await settle(pilot)
        await pilot.press("p", "escape")
        await settle(pilot)
        fake_openai.script(Reply("Noted."))
        app.chat.query_one("#prompt").insert("What should I cook tonight?")
        await pilot.press("enter")
        await settle(pilot)
        memory = fake_openai.chat_requests()[-1].memory
        assert "## Always remember\n- [fact] I keep bees" in memory
        await pilot.press("f3", "r")  # what went into that request
        await settle(pilot)
        assert "m-bees" in listed(app) and "m-self" in listed(app)


async def test_a_memory_opens_the_conversation_it_came_from(settings):
    app = seeded(settings)
    async with app.run_test(size=SIZE) as pilot:
        await open_at(pilot, "m-show")
        await pilot.press("o")
        await settle(pilot)
        assert app.screen is app.chat
        assert app.link.worker.session.id == "s-lisbon"
        assert [v.message.id for v in app.chat.transcript.views][:2] == ["u1", "a1"]


async def test_a_long_list_comes_a_page_at_a_time(settings):
    with Profile.open(Path(settings.data_dir), settings.profile) as profile:
        profile.memories.put_many(
            [make_memory("fact", {"note": f"fact number {i}"}, float(i)) for i in range(250)]
        )
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        browser = await open_browser(pilot)
        assert len(browser.rows) == 100 and browser.total == 251  # and the self
        await pilot.press("end")
        await settle(pilot)
        assert len(browser.rows) == 200
        await pilot.press("end")
        await settle(pilot)
        assert len(browser.rows) == 251
        assert browser.rows[-1].title == "fact number 0" or browser.rows[-1].is_self
