"""The sessions screen as the user sees it: the list, search, dialogs, a profile switch."""

from __future__ import annotations

import pytest

from tests.harness import make_app, settle
from tests.seed import seed

pytestmark = pytest.mark.xdist_group("snapshots")  # one at a time: a fixed port, see conftest

SIZE = (110, 32)


def sessions(*keys: str, search: str = "", on: str = "", answer: str = ""):
    """Open the sessions screen, search or highlight a session, press keys, answer a dialog."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        screen = pilot.app.screen
        if search:
            await pilot.press("slash", *search)
            await settle(pilot)
        if on:
            ids = [row.session.id for row in screen.listing.rows]
            screen.query_one("#sessions").highlighted = ids.index(on)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        if answer:
            pilot.app.screen.query_one("#answer").value = answer
            await pilot.press("enter")
            await settle(pilot)

    return run_before


SCREENS = {
    "list": sessions(),
    "search_with_results": sessions(search="anna"),
    "search_with_none": sessions(search="giraffe"),
    "opened_at_a_search_hit": sessions("down", "enter", search="landscapes"),
    "rename": sessions("r", on="s-lisbon"),
    "renamed": sessions("r", on="s-lisbon", answer="Anna moves to Lisbon"),
    "delete_confirmation": sessions("d", on="s-lisbon"),
    "export": sessions("x", on="s-lisbon"),
    "profile_question": sessions("p"),
    "profile_switched": sessions("p", answer="work"),
}


@pytest.mark.parametrize("screen", SCREENS)
def test_sessions(snap_compare, snap_settings, screen):
    seed(snap_settings)
    app = make_app(snap_settings, new_session=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=SCREENS[screen])
