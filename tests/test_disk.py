"""A full, read-only or locked store: the app says so, keeps what was typed, stays usable."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from chatmem.store.profile import Profile
from chatmem.ui.widgets.banner import Banner
from chatmem.ui.widgets.prompt import PromptInput
from tests.disks import fill, read_only, small_disk
from tests.harness import make_app, settle
from tests.test_app import type_and_send as send
from tests.test_cli_ask import run, server_env  # noqa: F401 (the CLI's environment)

SIZE = (100, 30)


def banner(app) -> str:
    shown = app.screen.query_one(Banner)
    return str(shown.render()) if shown.display else ""


def stored(settings) -> list[str]:
    with Profile.open(Path(settings.data_dir), settings.profile, readonly=True) as profile:
        session = profile.sessions.latest()
        return [m.content for m in profile.sessions.recent(session.id, 100)[0]] if session else []


async def test_a_full_disk_keeps_the_message_in_the_editor(settings, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        settings = replace(settings, data_dir=str(disk / "data"))
        app = make_app(settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await send(pilot, "before it filled up")
            filler = fill(disk)
            await send(pilot, "a message worth keeping")
            prompt = app.screen.query_one(PromptInput)
            assert prompt.text == "a message worth keeping"
            assert "No space left on device (ENOSPC)" in banner(app)
            assert f"{disk}/data/profiles/default/sessions/" in banner(app)
            app.action_remember("a memory on a full disk")  # it used to kill the worker
            await settle(pilot)
            filler.unlink()  # room again: Enter sends it
            prompt.focus()
            await pilot.press("enter")
            await settle(pilot)
            assert prompt.text == "" and not banner(app)
            shown = [v.message.content for v in app.screen.transcript.views]
            assert shown[-2:] == ["a message worth keeping", "Echo: a message worth keeping"]
        assert stored(settings) == [
            "before it filled up",
            "Echo: before it filled up",
            "a message worth keeping",
            "Echo: a message worth keeping",
        ]


async def test_a_read_only_disk_opens_the_profile_to_read(settings, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        settings = replace(settings, data_dir=str(disk / "data"))
        app = make_app(settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await send(pilot, "written while it could be")
        read_only(disk)
        app = make_app(settings)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "Read-only file system (EROFS)" in banner(app)
            shown = [v.message.content for v in app.screen.transcript.views]
            assert shown == ["written while it could be", "Echo: written while it could be"]
            await send(pilot, "typed on a read-only disk")
            assert app.screen.query_one(PromptInput).text == "typed on a read-only disk"
            assert "Read-only" in banner(app)
        read_only(disk, False)
        assert len(stored(settings)) == 2


async def test_a_locked_profile_is_shown_read_only_and_keeps_what_is_typed(settings):
    holder = Profile.open(Path(settings.data_dir), "default")  # another chatmem has it
    app = make_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "'default' is open in another chatmem" in banner(app)
        await send(pilot, "typed while locked")
        assert app.screen.query_one(PromptInput).text == "typed while locked"
        holder.close()  # the other one quits: the message goes
        await pilot.press("enter")
        await settle(pilot)
        assert not banner(app)
        shown = [v.message.content for v in app.screen.transcript.views]
        assert shown == ["typed while locked", "Echo: typed while locked"]


def test_the_cli_on_a_read_only_disk_says_so_in_one_line(capsys, monkeypatch, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        monkeypatch.setenv("XDG_DATA_HOME", str(disk))
        assert run(capsys, "memories", "add", "fact", "before")[0] == 0
        read_only(disk)
        code, _, err = run(capsys, "memories", "add", "fact", "Alice plays cello")
        assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert "Read-only file system (EROFS)" in err
        read_only(disk, False)


def test_a_cli_write_on_a_locked_profile_exits_at_once_saying_so(capsys, settings):
    with Profile.open(Path(settings.data_dir), "default"):
        code, _, err = run(capsys, "memories", "add", "fact", "Alice plays cello")
    assert code == 1 and "open in another chatmem" in err


def test_ask_on_a_read_only_disk_says_so_in_one_line(capsys, monkeypatch, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        monkeypatch.setenv("XDG_DATA_HOME", str(disk / "data"))
        monkeypatch.setenv("XDG_STATE_HOME", str(disk / "state"))  # its log too
        assert run(capsys, "ask", "first")[0] == 0
        for handler in list(logging.getLogger().handlers):  # its log, open for writing
            if getattr(handler, "baseFilename", "").startswith(str(disk)):
                logging.getLogger().removeHandler(handler)
                handler.close()
        read_only(disk)
        code, _, err = run(capsys, "ask", "--no-memory", "hello?")
        assert code == 1 and "Traceback" not in err and "Read-only file system (EROFS)" in err
        read_only(disk, False)
