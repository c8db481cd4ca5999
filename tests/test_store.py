"""The store on real files: atomic writes, foreign files, schema steps, the profile lock."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chatmem.protocol import ChatMessage
from chatmem.store.atomic import NewerSchema, StoreError, open_db
from chatmem.store.profile import Profile, ProfileLocked


def message(i: int, text: str = "") -> ChatMessage:
    return ChatMessage(f"m{i}", "user" if i % 2 == 0 else "assistant", text or f"text {i}", i)


def test_sessions_round_trip_and_page(tmp_path):
    with Profile.open(tmp_path, "default") as profile:
        info = profile.sessions.create(1000.0, "first")
        for i in range(10):
            profile.sessions.append(info.id, message(i))
        profile.sessions.update(info.id, ChatMessage("m3", "assistant", "edited", 3, status="cut"))
    with Profile.open(tmp_path, "default") as profile:
        store = profile.sessions
        assert store.latest().id == info.id and store.get(info.id).message_count == 10
        recent, older = store.recent(info.id, 4)
        assert [m.id for m in recent] == ["m6", "m7", "m8", "m9"] and older
        before, older = store.before(info.id, "m6", 4)
        assert [m.id for m in before] == ["m2", "m3", "m4", "m5"] and older
        assert store.get_message(info.id, "m3").content == "edited"
        assert store.before(info.id, "m2", 4) == ([message(0), message(1)], False)


def test_latest_is_the_most_recently_used(tmp_path):
    with Profile.open(tmp_path, "default") as profile:
        a = profile.sessions.create(10.0)
        b = profile.sessions.create(20.0)
        profile.sessions.append(a.id, message(30))
        assert profile.sessions.latest().id == a.id
        assert [s.id for s in profile.sessions.list()] == [a.id, b.id]
    with Profile.open(tmp_path, "default") as profile:  # the index was flushed on close
        assert profile.sessions.latest().id == a.id


def test_files_are_private_and_temp_files_are_cleaned(tmp_path):
    with Profile.open(tmp_path, "default") as profile:
        info = profile.sessions.create(1.0)
        profile.sessions.append(info.id, message(0))
        root = profile.root
    stale = root / "sessions" / ".x.json.123.tmp"
    stale.write_text("half")
    with Profile.open(tmp_path, "default"):
        assert not stale.exists()
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    db = open_db(tmp_path / "s.json", "session", 1)
    db.table("messages").insert({"text": "kept"})
    before = (tmp_path / "s.json").read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        db.table("messages").insert({"text": "lost"})
    assert (tmp_path / "s.json").read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


CRASHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from chatmem.protocol import ChatMessage
    from chatmem.store.profile import Profile
    profile = Profile.open(Path(sys.argv[1]), "default")
    info = profile.sessions.create(1.0)
    print(info.id, flush=True)
    i = 0
    while True:
        profile.sessions.append(info.id, ChatMessage(f"m{i}", "user", "x" * 2000, 1.0))
        i += 1
    """
)


def test_a_killed_writer_leaves_a_readable_store(tmp_path):
    """SIGKILL a process in the middle of its writes, several times: the store always opens."""
    for delay in (0.3, 0.45, 0.6):
        proc = subprocess.Popen(
            [sys.executable, "-c", CRASHER, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        session_id = proc.stdout.readline().strip()
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Profile.open(tmp_path, "default") as profile:
            assert profile.notices == []
            messages, _ = profile.sessions.recent(session_id, 10**6)
            assert messages and all(m.content == "x" * 2000 for m in messages)


@pytest.mark.parametrize("content", [b'{"foo": 1}', b"\x00\xff garbage", b"[1, 2, 3]"])
def test_foreign_session_files_are_moved_aside_not_overwritten(tmp_path, content):
    with Profile.open(tmp_path, "default") as profile:
        info = profile.sessions.create(1.0)
        profile.sessions.append(info.id, message(0))
        path = profile.root / "sessions" / f"{info.id}.json"
    path.write_bytes(content)
    with Profile.open(tmp_path, "default") as profile:
        assert profile.sessions.recent(info.id, 10) == ([], False)
        assert "moved to" in profile.notices[0]
        moved = list(path.parent.glob(f"{path.name}.corrupt-*"))
        assert [m.read_bytes() for m in moved] == [content]


def test_a_corrupt_index_is_rebuilt_from_the_session_files(tmp_path):
    with Profile.open(tmp_path, "default") as profile:
        info = profile.sessions.create(5.0, "kept title")
        profile.sessions.append(info.id, message(0))
        index = profile.root / "sessions.json"
    index.write_text("{ not json")
    with Profile.open(tmp_path, "default") as profile:
        assert profile.sessions.get(info.id).title == "kept title"
        assert profile.sessions.get(info.id).message_count == 1
        assert "rebuilt" in profile.notices[0]


def test_a_file_of_another_kind_is_refused(tmp_path):
    db = open_db(tmp_path / "x.json", "sessions", 1)
    db.table("sessions").insert({"a": 1})
    with pytest.raises(StoreError, match="not a session"):
        open_db(tmp_path / "x.json", "session", 1)


def test_a_newer_schema_is_refused_and_left_alone(tmp_path):
    with Profile.open(tmp_path, "default") as profile:
        path = profile.root / "profile.json"
    data = json.loads(path.read_text())
    data["_chatmem"]["1"]["schema"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(NewerSchema, match="newer chatmem"):
        Profile.open(tmp_path, "default")
    assert json.loads(path.read_text())["_chatmem"]["1"]["schema"] == 99


def test_migrations_run_step_by_step(tmp_path):
    Profile.open(tmp_path, "default", schema=1).close()
    ran: list[int] = []
    steps = {1: lambda root: ran.append(1), 2: lambda root: ran.append(2)}
    Profile.open(tmp_path, "default", schema=3, migrations=steps).close()
    assert ran == [1, 2]
    Profile.open(tmp_path, "default", schema=3, migrations=steps).close()
    assert ran == [1, 2]


def test_a_second_open_of_a_profile_is_refused_politely(tmp_path):
    first = Profile.open(tmp_path, "alice")
    with pytest.raises(ProfileLocked, match="alice"):
        Profile.open(tmp_path, "alice")
    probe = (
        "from chatmem.store.profile import Profile; import sys; Profile.open(sys.argv[1], 'alice')"
    )
    child = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.returncode != 0 and "ProfileLocked" in child.stderr
    Profile.open(tmp_path, "bob").close()  # other profiles are free
    first.close()
    Profile.open(tmp_path, "alice").close()


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "x" * 100])
def test_profile_names_are_validated(tmp_path, name):
    with pytest.raises(StoreError, match="not a valid profile name"):
        Profile.open(tmp_path, name)


def test_odd_unicode_is_stored(tmp_path):
    text = "emoji 🧠, RTL \u202eabc\u202c, NUL \x00, lone \ud800 surrogate"
    with Profile.open(tmp_path, "default") as profile:
        info = profile.sessions.create(1.0)
        profile.sessions.append(info.id, ChatMessage("m0", "user", text, 1.0))
    with Profile.open(tmp_path, "default") as profile:
        stored = profile.sessions.recent(info.id, 1)[0][0].content
    assert stored == text.replace("\ud800", "\ufffd")


def test_counts_written_after_the_index_are_recounted_at_open(tmp_path):
    with Profile.open(tmp_path, "default") as profile:
        profile.sessions.create(1.0, "kept", session_id="s-1")
        profile.sessions.create(2.0, "empty", session_id="s-2")
        profile.sessions.flush()
        profile.sessions.append("s-1", ChatMessage("m1", "user", "hello", 5.0, 3))
        profile.sessions._dirty.clear()  # killed before the index was written
    with Profile.open(tmp_path, "default", readonly=True) as profile:
        counts = {s.id: (s.message_count, s.updated, s.tokens) for s in profile.sessions.list()}
    assert counts == {"s-1": (1, 5.0, 3), "s-2": (0, 2.0, 0)}
