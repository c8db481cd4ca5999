"""The read-only open the headless reads use: no lock, nothing made or tidied, no writes."""

from __future__ import annotations

import pytest

from chatmem import protocol as p
from chatmem.memory.models import make_memory
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
