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


def seeded(settings):
    seed(settings)
    return make_app(settings, new_session=True)


def test_browser_with_only_the_self(snap_compare, snap_settings):
    assert snap_compare(make_app(snap_settings), terminal_size=SIZE, run_before=browse())


@pytest.mark.parametrize("group", ["person", "event", "fact", "conversation"])
def test_browser_lists_a_type(snap_compare, snap_settings, group):
    app = seeded(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=browse(group=group))


def test_browser_detail_with_history_and_provenance(snap_compare, snap_settings):
    app = seeded(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=browse(select="m-anna"))


def test_browser_self_record(snap_compare, snap_settings):
    app = seeded(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=browse(select="m-self"))


def test_browser_conversation_with_transcript(snap_compare, snap_settings):
    app = seeded(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=browse(group="conversation"))


def test_browser_filter_with_results(snap_compare, snap_settings):
    app = seeded(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=browse(filter_text="anna"))


def test_browser_filter_with_none(snap_compare, snap_settings):
    app = seeded(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=browse(filter_text="giraffe"))


def test_browser_add_form(snap_compare, snap_settings):
    app = seeded(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=browse("a"))


def test_browser_form_validation_error(snap_compare, snap_settings):
    app = seeded(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=browse("a", "ctrl+s"))


def test_browser_delete_confirmation(snap_compare, snap_settings):
    app = seeded(snap_settings)
    assert snap_compare(app, terminal_size=SIZE, run_before=browse("d", select="m-bees"))
