"""What the start-up leaves for after the first frame still happens, and in order."""

from __future__ import annotations

import gc
from dataclasses import replace

from textual.message import Message
from textual.widgets._footer import FooterKey

from chatmem import protocol as p
from chatmem.paths import resource_dir
from chatmem.ui.app import SCREENS_CSS, ChatmemApp
from chatmem.ui.widgets.prompt import PromptInput
from chatmem.worker.inprocess import InProcessLink
from tests.harness import FIXED_TIME, settle

SIZE = (100, 30)
MINE = """
name = "mine"
primary = "#ff8800"
dark = true
"""


class Recorder:
    """A link that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[p.Request] = []

    def start(self, on_event) -> None:
        pass

    def send(self, request: p.Request) -> None:
        self.sent.append(request)

    async def close(self, timeout: float = 2.0) -> None:
        pass


def test_what_is_asked_before_the_worker_starts_follows_its_start(settings):
    link = Recorder()
    app = ChatmemApp(settings, link=link)
    app.send(p.SendMessage("typed at once"))
    assert link.sent == []
    start = p.Start(settings)
    app.start_worker(start)
    app.send(p.Remember("after"))
    assert [type(r) for r in link.sent] == [p.Start, p.SendMessage, p.Remember]
    assert link.sent[0] is start and link.sent[1].text == "typed at once"


async def test_the_theme_to_start_in_comes_first_the_others_and_their_problems_after(
    settings, tmp_path
):
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "mine.toml").write_text(MINE)
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not a colour"\n')
    app = ChatmemApp(
        replace(settings, theme="mine"),
        link=InProcessLink(clock=lambda: FIXED_TIME),
        theme_dirs=(resource_dir("themes"), themes),
    )
    assert app.theme == "mine"  # set before any stylesheet is parsed
    assert "chatmem-light" not in app.available_themes  # read after the first frame
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme == "mine" and app.current_theme.primary == "#ff8800"
        assert {"chatmem-dark", "chatmem-light", "mine"} <= set(app.available_themes)
        assert "broken" not in app.available_themes
        told = [n.message for n in app._notifications]
        assert any("broken.toml was not loaded" in m for m in told), told


async def test_the_footer_rebuilds_its_keys_only_when_they_change(settings):
    app = ChatmemApp(settings, link=InProcessLink(clock=lambda: FIXED_TIME), blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        keys = list(app.screen.query(FooterKey))
        assert "Help" in [k.description for k in keys]
        app.screen.refresh_bindings()  # as focus, mounts and the first key do: nothing new
        await pilot.press("h", "i")
        await pilot.pause()
        assert app.screen.query_one(PromptInput).text == "hi"
        assert list(app.screen.query(FooterKey)) == keys  # the same widgets, not rebuilt
        await pilot.press("tab")  # the transcript has the focus: the keys shown change
        await pilot.pause()
        assert list(app.screen.query(FooterKey)) != keys


async def test_the_collector_is_back_on_after_the_first_frame(settings):
    gc.disable()  # as the command line leaves it for the start-up
    try:
        app = ChatmemApp(settings, link=InProcessLink(clock=lambda: FIXED_TIME))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0  # what the start-up made is not scanned again
    finally:
        gc.unfreeze()
        gc.enable()


async def test_the_other_screens_styles_are_read_after_the_first_frame(settings):
    app = ChatmemApp(settings, link=InProcessLink(clock=lambda: FIXED_TIME))
    assert not app.stylesheet.has_source(str(SCREENS_CSS), "")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.stylesheet.has_source(str(SCREENS_CSS), "")
        await pilot.press("f3")
        await settle(pilot)
        assert app.screen.query_one("#groups").styles.width.value == 22  # screens.tcss


async def test_a_screen_opened_by_a_key_typed_at_start_gets_its_styles(settings):
    class Later(ChatmemApp):
        CSS_PATH = SCREENS_CSS.with_name(ChatmemApp.CSS_PATH)

        def on_chat_screen_ready(self, message: Message) -> None:
            message.prevent_default()  # the test goes on with the start-up itself, later

    app = Later(settings, link=InProcessLink(clock=lambda: FIXED_TIME))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        groups = app.screen.query_one("#groups")
        assert groups.styles.width is None or groups.styles.width.value != 22
        app._start_rest()
        await settle(pilot)
        assert groups.styles.width.value == 22
