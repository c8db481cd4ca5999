"""The read-only open the headless reads use: no lock, nothing made or tidied, no writes."""

from __future__ import annotations

import pytest

from chatmem import protocol as p
from chatmem.domain.memories import make_memory
from chatmem.store.profile import Profile, ProfileMissing, ReadOnly

T = 1_790_000_000.0


def test_a_profile_not_made_yet_is_missing_and_stays_unmade(tmp_path):
    with pytest.raises(ProfileMissing):
        Profile.open(tmp_path, "default", readonly=True)
    assert list(tmp_path.iterdir()) == []


def test_reads_while_another_holds_the_lock_and_refuses_writes(tmp_path):
    with Profile.open(tmp_path, "default") as app:
        app.memories.put(make_memory("fact", {"note": "bees"}, T, memory_id="m1"))
        app.sessions.create(T, "Bees", session_id="s1")
        app.sessions.append("s1", p.ChatMessage("u1", "user", "Bees!", T, tokens=3))
        app.sessions.flush()
        stale = app.root / "memories" / ".shard-00000.json.1.tmp"
        stale.write_text("left by a crash")
        with Profile.open(tmp_path, "default", readonly=True) as reader:
            assert [m.id for m in reader.memories] == ["m1"] and len(reader.memories) == 1
            assert reader.memories.get("m1").fields["note"] == "bees"
            assert [s.id for s in reader.sessions.list()] == ["s1"]
            assert reader.sessions.recent("s1", 10)[0][0].content == "Bees!"
            with pytest.raises(ReadOnly):
                reader.memories.delete("m1")
            with pytest.raises(ReadOnly):
                reader.sessions.create(T, "More")
        assert stale.exists()  # the app's to tidy, not a reader's
        assert app.memories.get("m1") is not None


def test_a_reader_leaves_damaged_files_where_they_are_for_the_app(tmp_path):
    with Profile.open(tmp_path, "default") as app:
        app.memories.put(make_memory("fact", {"note": "bees"}, T, memory_id="m1"))
        app.sessions.create(T, "Bees", session_id="s1")
        app.sessions.append("s1", p.ChatMessage("u1", "user", "Bees!", T, tokens=3))
        app.sessions.create(T, "Wasps", session_id="s2")
        root = app.root
    (root / "sessions" / "s2.json").write_text("[]")
    (root / "memories" / "shard-00009.json").write_text("garbage")
    files = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}

    def read() -> list[str]:
        with Profile.open(tmp_path, "default", readonly=True) as reader:
            assert reader.sessions.recent("s1", 10)[0][0].content == "Bees!"
            assert [m.id for m in reader.memories] == ["m1"]
            assert all("unreadable" in n for n in reader.notices)
            return sorted(s.id for s in reader.sessions.list())

    with Profile.open(tmp_path, "default", readonly=True) as reader:
        assert reader.sessions.recent("s2", 10)[0] == []
        assert len(reader.notices) == 2
    assert read() == ["s1", "s2"]
    (root / "sessions.json").write_text("{not json")
    files[root / "sessions.json"] = b"{not json"
    assert read() == ["s1"]  # the list rebuilt in memory from the readable sessions
    assert {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} == files
    with Profile.open(tmp_path, "default") as app:  # the app sets them aside and goes on
        assert [s.id for s in app.sessions.list()] == ["s1"]
        assert len(list(root.rglob("*.corrupt-*"))) == 2  # the index and the shard
