"""Crafted import files (tests/data/hostile/) against the real CLI and worker: checked before
anything is written, refused with the file, the record and the field named, written all or
nothing, never outside the store."""

from __future__ import annotations

import contextlib
import json
import stat
from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.cli import main
from chatmem.store import atomic
from chatmem.store.profile import Profile
from tests.harness import FIXED_TIME, WorkerHarness, make_app, settle

HOSTILE = Path(__file__).parent / "data" / "hostile"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def data_dir(home: Path) -> Path:
    return home / "data" / "chatmem"


def stored_sessions(home: Path) -> dict[str, list[p.ChatMessage]]:
    with Profile.open(data_dir(home), "default") as profile:
        return {s.id: profile.sessions.recent(s.id, 10**9)[0] for s in profile.sessions.list()}


def outside(home: Path, name: str) -> Path:
    """A precious file beside the store, in a folder others may share."""
    folder = home / "outside"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o755)
    path = folder / name
    path.write_text("precious\n")
    return path


# ---------------------------------------------------------------- ids that name files


def test_a_legacy_id_never_writes_outside_the_store(capsys, isolated_home):
    precious = outside(isolated_home, "precious.json")
    code, out, _ = run(capsys, "import", "legacy", str(HOSTILE / "legacy-id-traversal.json"))
    assert code == 0
    assert precious.read_text() == "precious\n"
    assert stat.S_IMODE(precious.parent.stat().st_mode) == 0o755
    assert sorted(precious.parent.iterdir()) == [precious]
    sessions = stored_sessions(isolated_home)
    ((session_id, messages),) = sessions.items()
    assert session_id.startswith("legacy-conversation-") and "/" not in session_id
    assert [m.content for m in messages] == ["hi", "hello"]
    assert "Imported 1 conversation, 1 fact, 1 session." in out
    assert "item 3 ('legacy-f2'): created is 1e+20, not a time between 1970 and 3000" in out


async def test_a_memory_naming_a_session_outside_the_store_opens_nothing(
    capsys, isolated_home, settings
):
    notes = outside(isolated_home, "notes.json")
    path = HOSTILE / "memories-session-traversal.json"
    code, _, err = run(capsys, "memories", "import", str(path))
    assert code == 1
    assert f"Could not import {path}: memory 1 ('m-hostile'): session_id is '../../" in err
    # One stored by an older chatmem: F3 shows it, and opens no file for its session.
    doc = json.loads(path.read_text())["memories"][0]
    with Profile.open(data_dir(isolated_home), "default") as profile:
        profile.memories.table.put(doc)
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    await h.request(p.ShowMemory("m-hostile"))
    shown = h.last(p.MemoryShown).record
    assert shown is not None and shown.transcript == ()
    await h.close()
    assert notes.read_text() == "precious\n"
    assert sorted(notes.parent.iterdir()) == [notes]


# ---------------------------------------------------------------- types and ranges

BAD_SESSIONS = [
    ("session-weird-status.json", "message 2 ('a1'): status is 'weird status', not one of ok"),
    ("session-tokens-lots.json", "message 2 ('a1'): tokens is 'lots', not a whole number"),
    ("session-created-1e20.json", "message 2 ('a1'): created is 1e+20, not a time between"),
    ("session-created-nan.json", "message 2 ('a1'): created is nan, not a time between"),
]


def huge_files(folder: Path) -> list[tuple[Path, str]]:
    """Made here rather than kept: 200k nested arrays, a 20 MB message, a 201 MB file."""
    nested = folder / "nested.json"
    nested.write_text("[" * 200_000 + "]" * 200_000)
    export = json.loads((HOSTILE / "session-weird-status.json").read_text())
    export["messages"][1] |= {"status": "ok", "content": "x" * 20_000_000}
    big_message = folder / "big-message.json"
    big_message.write_text(json.dumps(export))
    sparse = folder / "sparse.json"
    with sparse.open("wb") as f:
        f.truncate(201 * 2**20)
    return [
        (nested, "not JSON this app reads (nested too deeply)"),
        (big_message, "content is 20,000,000 characters long (at most 1,000,000)"),
        (sparse, "larger than 200 MB"),
    ]


@pytest.mark.parametrize(("name", "problem"), BAD_SESSIONS)
def test_the_cli_refuses_a_bad_session_export_naming_the_field(
    capsys, isolated_home, name, problem
):
    path = HOSTILE / name
    code, _, err = run(capsys, "sessions", "import", str(path))
    assert code == 1
    assert f"Could not import {path}: {problem}" in err
    assert not (data_dir(isolated_home) / "profiles").exists()  # nothing was written


def test_the_cli_refuses_what_is_too_big_or_too_deep(capsys, isolated_home, tmp_path):
    for path, problem in huge_files(tmp_path):
        code, _, err = run(capsys, "sessions", "import", str(path))
        assert code == 1
        assert f"Could not read {path}: {problem}" in err or problem in err
        code, _, err = run(capsys, "memories", "import", str(path))
        assert code == 1
    assert not (data_dir(isolated_home) / "profiles").exists()


@pytest.mark.parametrize(("name", "problem"), BAD_SESSIONS)
async def test_the_app_refuses_a_bad_session_export_naming_the_field(settings, name, problem):
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    await h.request(p.ImportSession(str(HOSTILE / name)))
    notice = h.last(p.Notice)
    assert notice.level == "error"
    assert f"Could not import {HOSTILE / name}: {problem}" in notice.text
    await h.request(p.ListSessions())
    assert [r.session.title for r in h.last(p.SessionList).rows] == [""]  # the new, empty one
    await h.close()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("memories-created-1e20.json", "memory 1 ('m-hostile'): created is 1e+20, not a time"),
        ("memories-pinned-string.json", "memory 1 ('m-hostile'): pinned is 'false', not true or"),
    ],
)
def test_a_bad_memory_is_refused_naming_the_field(capsys, isolated_home, name, problem):
    code, _, err = run(capsys, "memories", "import", str(HOSTILE / name))
    assert code == 1
    assert f"Could not import {HOSTILE / name}: {problem}" in err


def test_stored_memories_from_an_older_import_are_skipped_not_fatal(capsys, isolated_home):
    doc = json.loads((HOSTILE / "memories-created-1e20.json").read_text())["memories"][0]
    good = {**doc, "id": "m-good", "created": FIXED_TIME, "fields": {"note": "I like tea"}}
    with Profile.open(data_dir(isolated_home), "default") as profile:
        profile.memories.table.put_many([doc, good])
    code, out, err = run(capsys, "memories", "list")
    assert code == 0
    assert "I like tea" in out and "I keep bees" not in out
    assert "1 damaged memories in shard-00000.json were skipped" in err


async def test_a_stored_message_of_an_unknown_status_does_not_stop_the_app(settings):
    with Profile.open(Path(settings.data_dir), "default") as profile:
        profile.sessions.create(FIXED_TIME, "Weird", session_id="s-weird")
        profile.sessions.extend(
            "s-weird",
            [
                p.ChatMessage("u1", "user", "Hello", FIXED_TIME),
                p.ChatMessage("a1", "assistant", "Odd", FIXED_TIME + 1, status="weird status"),
            ],
        )
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        shown = [v.message.content for v in app.screen.transcript.views]
        assert shown == ["Hello"]
        assert app.is_running


def test_a_long_message_the_app_stored_itself_is_still_read(tmp_path):
    long = "x" * 1_500_000  # more than an import takes; a model with a big window took it
    with Profile.open(tmp_path, "default") as profile:
        profile.sessions.create(FIXED_TIME, "Long", session_id="s-long")
        profile.sessions.append("s-long", p.ChatMessage("u1", "user", long, FIXED_TIME))
    with Profile.open(tmp_path, "default") as profile:
        assert profile.notices == []
        assert profile.sessions.recent("s-long", 1)[0][0].content == long


# ---------------------------------------------------------------- all or nothing


WRITE = atomic.write_private


class Killed(BaseException):
    """The process dies here: nothing after this write happens."""


def dying_at(monkeypatch, n: int) -> list[Path]:
    """Make the ``n``-th store write (1-based) die before it is done; returns the writes."""
    done: list[Path] = []

    def write(path, data, **kwargs):
        if len(done) + 1 == n:
            raise Killed
        done.append(Path(path))
        WRITE(path, data, **kwargs)

    monkeypatch.setattr(atomic, "write_private", write)
    return done


def test_a_session_import_killed_at_any_write_leaves_all_or_nothing(capsys, monkeypatch, tmp_path):
    export = json.loads((HOSTILE / "session-weird-status.json").read_text())
    export["messages"][1]["status"] = "ok"
    good = tmp_path / "good.json"
    good.write_text(json.dumps(export))
    for n in range(1, 8):
        home = tmp_path / f"data-{n}"
        monkeypatch.setenv("XDG_DATA_HOME", str(home))
        dying_at(monkeypatch, n)
        with contextlib.suppress(Killed):
            run(capsys, "sessions", "import", str(good))
        monkeypatch.setattr(atomic, "write_private", WRITE)
        with Profile.open(home / "chatmem", "default") as profile:
            counts = [(s.id, s.message_count) for s in profile.sessions.list()]
            assert counts in ([], [("s-hostile", 2)]), (n, counts)
            if counts:
                assert len(profile.sessions.recent("s-hostile", 10)[0]) == 2


LEGACY_MEMORIES = {
    "memories": [
        {"mem_type": "Fact", "ID": f"f{i}", "entryDate": 1730570000 + i, "note": f"Fact {i}"}
        for i in range(5)
    ]
    + [
        {"mem_type": "Conversation", "ID": f"c{i}", "entryDate": 1730571000 + i,
         "summary": f"Talk {i}", "transcript": [{"role": "user", "content": f"hi {i}"}] * 3}
        for i in range(3)
    ]
}  # fmt: skip


def legacy_files(folder: Path, messages: int) -> list[Path]:
    memories, chat = folder / "memories.json", folder / "chat.json"
    memories.write_text(json.dumps(LEGACY_MEMORIES))
    chat.write_text(
        json.dumps(
            [
                {"timestamp": f"Nov 02 2024 19:{i // 60 % 60:02d}:{i % 60:02d}",
                 "role": "user" if i % 2 == 0 else "assistant", "content": f"line {i}"}
                for i in range(messages)
            ]
        )
    )  # fmt: skip
    return [memories, chat]


def legacy_state(home: Path) -> tuple[list[tuple[str, int]], int]:
    with Profile.open(home, "default") as profile:
        sessions = sorted(
            (s.id, len(profile.sessions.recent(s.id, 10**9)[0])) for s in profile.sessions.list()
        )
        return sessions, len(profile.memories)


def test_a_legacy_import_killed_at_any_write_is_completed_by_a_rerun(capsys, monkeypatch, tmp_path):
    files = [str(f) for f in legacy_files(tmp_path, 3000)]
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "whole"))
    done = dying_at(monkeypatch, 10**9)
    assert run(capsys, "import", "legacy", *files)[0] == 0
    assert len(done) <= 8, done  # one write per file: not one per message
    expected = legacy_state(tmp_path / "whole" / "chatmem")
    assert expected[1] == 8 and len(expected[0]) == 4 and max(n for _, n in expected[0]) == 3000
    for n in range(1, len(done) + 1):
        home = tmp_path / f"data-{n}"
        monkeypatch.setenv("XDG_DATA_HOME", str(home))
        dying_at(monkeypatch, n)
        with pytest.raises(Killed):
            run(capsys, "import", "legacy", *files)
        monkeypatch.setattr(atomic, "write_private", WRITE)
        assert run(capsys, "import", "legacy", *files)[0] == 0
        assert legacy_state(home / "chatmem") == expected, n


def test_memories_import_writes_each_shard_once_even_replacing(capsys, monkeypatch, tmp_path):
    doc = json.loads((HOSTILE / "memories-pinned-string.json").read_text())["memories"][0]
    docs = [{**doc, "id": f"m{i}", "pinned": False} for i in range(1500)]
    path = tmp_path / "memories.json"
    path.write_text(json.dumps(docs))
    assert run(capsys, "memories", "import", str(path))[0] == 0
    done = dying_at(monkeypatch, 10**9)
    path.write_text(json.dumps([{**d, "pinned": True} for d in docs]))
    code, out, _ = run(capsys, "memories", "import", "--replace", str(path))
    assert code == 0 and "Imported 1,500 memories; 1,500 of them replacing stored ones." in out
    assert sorted(p.name for p in done) == ["shard-00000.json", "shard-00001.json"]
    with Profile.open(data_dir(tmp_path), "default") as profile:
        assert sum(m.pinned for m in profile.memories) == 1500
