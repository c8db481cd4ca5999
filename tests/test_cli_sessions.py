"""`chatmem sessions …` against a real TinyDB profile in the test's home."""

from __future__ import annotations

import io
import json
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.cli import main
from chatmem.commands.sessions import listed
from chatmem.domain.memories import make_memory
from chatmem.domain.sessions import SessionInfo
from chatmem.store.profile import Profile

T = 1_790_000_000.0  # 2026-09-21 14:13 UTC


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data_dir(isolated_home) -> Path:
    """Two sessions, a memory learnt in the first, and the assistant's own record."""
    data_dir = isolated_home / "data" / "chatmem"
    with Profile.open(data_dir, "default") as profile:
        sessions = profile.sessions
        sessions.create(T, "Lisbon plans", session_id="s-lisbon")
        sessions.extend(
            "s-lisbon",
            [
                p.ChatMessage("u1", "user", "My sister Anna lives in Lisbon.", T, tokens=12),
                p.ChatMessage("a1", "assistant", "Does Anna paint?", T + 5, tokens=9),
            ],
        )
        sessions.create(T + 3600, "", session_id="s-bees")
        sessions.append("s-bees", p.ChatMessage("u2", "user", "Bees!", T + 3600, tokens=5))
        for memory in (
            make_memory("person", {"name": "Anna"}, T, "s-lisbon", ("u1",), "m-anna"),
            make_memory("person", {"name": "Me", "relation": "self"}, T, "s-lisbon", (), "m-me"),
            make_memory("fact", {"note": "I keep bees"}, T, "s-bees", ("u2",), "m-bees"),
        ):
            profile.memories.put(memory)
    return data_dir


def ids(capsys) -> list[str]:
    return [s["id"] for s in json.loads(run(capsys, "sessions", "list", "--json")[1])]


def test_list_shows_the_latest_first(capsys, data_dir):
    assert run(capsys, "sessions", "list")[1].splitlines() == [
        "ID        LAST USED         MESSAGES     TOKENS  TITLE",
        "s-bees    2026-09-21 15:13         1          5  Untitled conversation",
        "s-lisbon  2026-09-21 14:13         2         21  Lisbon plans",
    ]
    listed = json.loads(run(capsys, "sessions", "list", "--json")[1])
    assert listed[1] == {
        "id": "s-lisbon",
        "title": "Lisbon plans",
        "created": T,
        "message_count": 2,
        "updated": T + 5,
        "tokens": 21,
    }


def test_show_prints_the_markdown(capsys, data_dir):
    code, out, _ = run(capsys, "sessions", "show", "s-lis")
    assert code == 0 and out.startswith("# Lisbon plans\n")
    assert "## You — 2026-09-21 14:13\n\nMy sister Anna lives in Lisbon." in out
    assert run(capsys, "sessions", "show", "s-")[0] == 1  # two start so: ambiguous


def test_export_to_stdout_or_a_private_file(capsys, data_dir, tmp_path):
    assert run(capsys, "sessions", "export", "s-lisbon")[1].startswith("# Lisbon plans")
    exported = json.loads(run(capsys, "sessions", "export", "s-lisbon", "--format", "json")[1])
    assert exported["format"] == "chatmem-session" and len(exported["messages"]) == 2
    target = tmp_path / "lisbon.json"
    assert run(capsys, "sessions", "export", "s-lisbon", "-o", str(target))[0] == 0
    assert json.loads(target.read_text()) == exported  # the format follows the name
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    target = tmp_path / "lisbon.txt"
    run(capsys, "sessions", "export", "s-lisbon", "--format", "md", "-o", str(target))
    assert target.read_text().startswith("# Lisbon plans")


def test_import_adds_a_copy_and_refuses_what_is_not_an_export(capsys, data_dir, tmp_path):
    target = tmp_path / "lisbon.json"
    run(capsys, "sessions", "export", "s-lisbon", "-o", str(target))
    code, out, _ = run(capsys, "--profile", "other", "sessions", "import", str(target))
    assert out == "Imported “Lisbon plans” as s-lisbon (2 messages).\n"
    code, out, _ = run(capsys, "sessions", "import", str(target))  # the id is taken: a copy
    assert code == 0 and len(ids(capsys)) == 3
    target.write_text('{"format": "chatmem-memories"}')
    code, out, err = run(capsys, "sessions", "import", str(target))
    assert (code, out) == (1, "") and "not a chatmem session export" in err
    assert len(ids(capsys)) == 3


def test_rm_asks_first(capsys, monkeypatch, data_dir):
    code, _, err = run(capsys, "sessions", "rm", "s-bees")  # stdin is no terminal: no asking
    assert code == 2 and "--yes" in err
    answers = io.StringIO("n\ny\n")
    answers.isatty = lambda: True
    monkeypatch.setattr("sys.stdin", answers)
    assert run(capsys, "sessions", "rm", "s-bees")[0] == 1
    assert ids(capsys) == ["s-bees", "s-lisbon"]
    code, out, _ = run(capsys, "sessions", "rm", "s-bees")
    assert out.endswith("[y/N] Deleted “Untitled conversation”.\n")
    assert ids(capsys) == ["s-lisbon"]
    assert not (data_dir / "profiles" / "default" / "sessions" / "s-bees.json").exists()


def test_rm_with_memories_forgets_what_was_learnt_there(capsys, data_dir):
    out = run(capsys, "sessions", "rm", "--yes", "--with-memories", "s-lisbon")[1]
    assert out == "Deleted “Lisbon plans” and the 1 memories learnt in it.\n"
    listed = json.loads(run(capsys, "memories", "list", "--json")[1])
    assert sorted(m["id"] for m in listed) == ["m-bees", "m-me"]  # the self stays
    assert run(capsys, "sessions", "rm", "--yes", "s-lisbon")[0] == 1


@dataclass(frozen=True)
class PinnedSession(SessionInfo):
    """A session with a field the record might gain: the command's output keeps its own."""

    pinned: bool = True


def test_list_json_prints_its_own_fields_whatever_the_record_holds():
    info = PinnedSession("s-1", "Bees", T, 3, T + 1, 40)
    assert listed(info) == {
        "id": "s-1",
        "title": "Bees",
        "created": T,
        "message_count": 3,
        "updated": T + 1,
        "tokens": 40,
    }
