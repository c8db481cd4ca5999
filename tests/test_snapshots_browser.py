"""The memory browser as the user sees it: lists, details, forms (pytest-textual-snapshot)."""

from __future__ import annotations

import pytest

from tests.harness import make_app, settle
from tests.seed import seed

pytestmark = pytest.mark.xdist_group("snapshots")  # one at a time: a fixed port, see conftest

SIZE = (110, 32)


def browse(*keys: str, select: str = "", filter_text: str | None = None, group: str = ""):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f3")
        await settle(pilot)
        browser = pilot.app.browser
        if group:
            browser.query_one("#groups").highlighted = list(browser.counts).index(group)
        if filter_text is not None:
            await pilot.press("slash")
            browser.query_one("#filter").value = filter_text
        if select:
            browser.select(select)
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


SCREENS = {
    **{f"lists_{group}": browse(group=group) for group in ("person", "event", "fact")},
    "conversation_with_transcript": browse(group="conversation"),
    "detail_with_history_and_provenance": browse(select="m-anna"),
    "self_record": browse(select="m-self"),
    "filter_with_results": browse(filter_text="anna"),
    "filter_with_none": browse(filter_text="giraffe"),
    "add_form": browse("a"),
    "form_validation_error": browse("a", "ctrl+s"),
    "delete_confirmation": browse("d", select="m-bees"),
}


def test_browser_with_only_the_self(snap_compare, snap_settings):
    assert snap_compare(make_app(snap_settings), terminal_size=SIZE, run_before=browse())


@pytest.mark.parametrize("screen", SCREENS)
def test_browser(snap_compare, snap_settings, screen):
    seed(snap_settings)
    app = make_app(snap_settings, new_session=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=SCREENS[screen])
