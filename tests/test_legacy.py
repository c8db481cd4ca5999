"""`chatmem import legacy`: the first prototype's memories.json and chat.json."""

from __future__ import annotations

import json
import subprocess
import sys

from chatmem.store.profile import Profile

MEMORIES = {
    "memories": [
        {"mem_type": "Person", "ID": "p1", "entryDate": 1730570651, "name": "Sol", "isSelf": True,
         "personality": "warm", "relation": "", "alive": True, "relationships": [],
         "currentObjectives": "", "miscDetails": ""},
        {"mem_type": "Person", "ID": "p2", "entryDate": 1730570652, "name": "Anna",
         "relation": "sister", "alive": True, "isSelf": False,
         "relationships": [{"name": "Tom", "relation": "husband"}],
         "currentObjectives": "open a gallery", "miscDetails": "lives in Lisbon",
         "personality": "bold"},
        {"mem_type": "Event", "ID": "e1", "entryDate": 1730570653, "note": "Anna's wedding",
         "dates": ["2024-06-01"]},
        {"mem_type": "Fact", "ID": "f1", "entryDate": 1730570654, "note": "Likes tea",
         "source": "chat"},
        {"mem_type": "Conversation", "ID": "c1", "entryDate": 1730570655,
         "summary": "We talked about Anna.", "transcript": "User: hi\nAI: hello"},
        {"mem_type": "Dream", "ID": "d1", "entryDate": 1730570656},
        {"mem_type": "Fact", "ID": "f2", "entryDate": 1730570657},
        {"mem_type": "Fact", "entryDate": 1730570658, "note": "no id"},
    ]
}  # fmt: skip
CHAT = [
    {"timestamp": "Nov 02 2024 19:04:11", "role": "user", "content": "Hello again"},
    {"timestamp": "Nov 02 2024 19:04:15", "role": "assistant", "content": "Hi! How is Anna?"},
    {"timestamp": "yesterday", "role": "user", "content": "bad time"},
]


def run_import(tmp_path, *paths):
    env = {
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    return subprocess.run(
        [sys.executable, "-m", "chatmem", "import", "legacy", *map(str, paths)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_import_reports_counts_and_skips_and_is_idempotent(tmp_path):
    memories, chat = tmp_path / "memories.json", tmp_path / "chat.json"
    memories.write_text(json.dumps(MEMORIES))
    chat.write_text(json.dumps(CHAT))
    first = run_import(tmp_path, memories, chat)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "Imported 1 conversation, 1 event, 1 fact, 2 person, 2 session." in out
    assert "unknown type 'Dream'" in out and "a fact needs a note" in out and "no ID" in out
    assert "chat.json message 3" in out

    again = run_import(tmp_path, memories, chat)
    assert "Imported nothing." in again.stdout and "7 already imported" in again.stdout

    with Profile.open(tmp_path / "data" / "chatmem", "default") as profile:
        anna = profile.memories.get("legacy-p2")
        assert anna.fields["relation"] == "sister" and anna.fields["objectives"] == "open a gallery"
        assert anna.fields["relationships"] == [{"name": "Tom", "relation": "husband"}]
        assert profile.memories.get("legacy-p1").is_self
        assert anna.created == 1730570652
        journal = profile.memories.get("legacy-c1")
        transcript, _ = profile.sessions.recent(journal.fields["session_id"], 10)
        assert [(m.role, m.content) for m in transcript] == [("user", "hi"), ("assistant", "hello")]
        chat_session = next(s for s in profile.sessions.list() if s.id.startswith("legacy-chat"))
        messages, _ = profile.sessions.recent(chat_session.id, 10)
        assert [m.content for m in messages] == ["Hello again", "Hi! How is Anna?"]
        assert messages[1].created - messages[0].created == 4


def test_a_file_that_is_not_the_prototypes_is_reported(tmp_path):
    odd = tmp_path / "notes.json"
    odd.write_text('{"hello": 1}')
    result = run_import(tmp_path, odd)
    assert result.returncode == 0 and "not a prototype memories file" in result.stdout
