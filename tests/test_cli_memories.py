"""`chatmem memories …` against a real TinyDB profile in the test's home."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from chatmem.cli import main
from chatmem.domain.memories import make_memory
from chatmem.store.profile import Profile

T = 1_790_000_000.0


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def records(capsys, *argv: str) -> list[dict]:
    code, out, _ = run(capsys, "memories", "list", "--json", *argv)
    assert code == 0
    return json.loads(out)


def added(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, "memories", "add", *argv, "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


@pytest.fixture
def data_dir(isolated_home) -> Path:
    return isolated_home / "data" / "chatmem"


def test_a_profile_not_made_yet_lists_nothing_and_stays_unmade(capsys, data_dir):
    assert run(capsys, "memories", "list") == (0, "", "")
    assert run(capsys, "sessions", "list") == (0, "", "")
    assert records(capsys) == []
    assert json.loads(run(capsys, "memories", "export")[1])["memories"] == []
    assert run(capsys, "memories", "show", "m1")[0] == 1
    assert not data_dir.exists()


def test_add_list_and_show(capsys):
    fact = added(capsys, "fact", "Alice plays cello", "--source", "Alice")
    person = added(capsys, "person", "Alice", "--relation", "sister", "--alive", "no")
    assert fact["kind"] == "fact" and fact["fields"] == {
        "note": "Alice plays cello",
        "source": "Alice",
    }
    assert person["fields"]["relation"] == "sister" and person["fields"]["alive"] is False
    listed = records(capsys)
    assert [m["id"] for m in listed] == [person["id"], fact["id"]]  # the latest first
    assert listed[0]["text"] == "Alice (sister); deceased"
    listing = run(capsys, "memories", "list")[1]
    assert f"{fact['id']}  fact" in listing and "Alice plays cello" in listing
    assert [m["id"] for m in records(capsys, "type:fact")] == [fact["id"]]
    shown = run(capsys, "memories", "show", person["id"][:6])[1]
    assert "relation: sister\nalive: no\n" in shown and shown.startswith(f"{person['id']} · person")
    assert json.loads(run(capsys, "memories", "show", "--json", fact["id"])[1]) == fact


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["event", "Trip", "--dates", "the day after never"], "dates: 'the day after never' is"),
        (["person", "Ann", "--alive", "maybe"], "alive: Say yes or no."),
        (["person", "Ann", "--relationships", "Bob"], "relationships: Write 'Bob' as"),
        (["person", "Ann", "--relation", "self"], "relation: only the assistant"),
        (["fact", "Bees", "--relation", "sister"], "A fact has no field 'relation'"),
        (["fact", " "], "note: Fact is required."),
    ],
)
def test_fields_are_checked_as_the_form_checks_them(capsys, data_dir, argv, problem):
    code, out, err = run(capsys, "memories", "add", *argv)
    assert (code, out) == (2, "") and err.startswith(problem)
    assert not data_dir.exists()


def test_an_unknown_type_is_argparses_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["memories", "add", "dream", "flying"])
    assert exc.value.code == 2


def test_edit_changes_only_the_given_fields_and_keeps_the_old_version(capsys):
    alice = added(capsys, "person", "Alice", "--relation", "sister", "--details", "in Lisbon")
    code, out, err = run(capsys, "memories", "edit", alice["id"], "--details", "in Porto", "--json")
    assert (code, err) == (0, "")
    edited = json.loads(out)
    assert edited["fields"] == {**alice["fields"], "details": "in Porto"}
    (old,) = edited["history"]
    assert old["by"] == "user" and old["fields"]["details"] == "in Lisbon"
    assert records(capsys) == [edited]
    assert run(capsys, "memories", "edit", alice["id"], "--details", "in Porto")[0] == 0
    assert len(records(capsys)[0]["history"]) == 1  # nothing changed: nothing written
    assert run(capsys, "memories", "edit", alice["id"])[0] == 2
    assert run(capsys, "memories", "edit", alice["id"], "--note", "x")[0] == 2


def test_pin_unpin_and_rm(capsys):
    fact = added(capsys, "fact", "I keep bees")
    assert (
        run(capsys, "memories", "pin", fact["id"])[1] == f"Pinned fact {fact['id']}: I keep bees\n"
    )
    assert records(capsys, "pinned")[0]["pinned"] is True
    assert run(capsys, "memories", "pin", "--off", fact["id"])[0] == 0
    assert records(capsys, "pinned") == []
    run(capsys, "memories", "pin", fact["id"])
    assert run(capsys, "memories", "unpin", fact["id"])[0] == 0
    assert records(capsys)[0]["pinned"] is False
    assert run(capsys, "memories", "rm", fact["id"])[0] == 0
    assert records(capsys) == []
    code, _, err = run(capsys, "memories", "rm", fact["id"])
    assert (
        code == 1
        and err == f"No memory has the id {fact['id']!r}; `chatmem memories list` shows them.\n"
    )


def test_the_assistants_own_record_is_kept_whole(capsys, data_dir):
    with Profile.open(data_dir, "default") as profile:
        me = make_memory("person", {"name": "Assistant", "relation": "self"}, T, memory_id="m-me")
        profile.memories.put(me)
    code, _, err = run(capsys, "memories", "rm", "m-me")
    assert code == 1 and "cannot be deleted" in err
    code, _, err = run(capsys, "memories", "edit", "m-me", "--relation", "friend")
    assert code == 2 and err.startswith("relation: the assistant's own record keeps")
    assert run(capsys, "memories", "edit", "m-me", "--name", "Ada")[0] == 0
    notes = [m["fields"].get("note") for m in records(capsys)]
    assert "My name changed from Assistant to Ada." in notes


def test_reads_work_while_the_app_has_the_profile_and_writes_wait(capsys, data_dir):
    fact = added(capsys, "fact", "I keep bees")
    with Profile.open(data_dir, "default"):
        assert [m["id"] for m in records(capsys)] == [fact["id"]]
        assert run(capsys, "memories", "show", fact["id"])[0] == 0
        assert json.loads(run(capsys, "memories", "export")[1])["memories"]
        code, out, err = run(capsys, "memories", "add", "fact", "more bees")
        assert (code, out) == (1, "") and "is open in another chatmem" in err
        assert run(capsys, "memories", "rm", fact["id"])[0] == 1
    assert len(records(capsys)) == 1


def test_export_and_import_carry_every_memory(capsys, tmp_path):
    added(capsys, "fact", "I live in Bonn")
    alice = added(capsys, "person", "Alice", "--relation", "sister")
    run(capsys, "memories", "edit", alice["id"], "--details", "paints")
    everything = records(capsys, "--all")
    os.chmod(tmp_path, 0o755)
    out = tmp_path / "memories.json"
    assert (
        run(capsys, "memories", "export", "-o", str(out))[1] == f"Exported 2 memories to {out}.\n"
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # the folder is the user's: untouched
    code, text, _ = run(capsys, "--profile", "other", "memories", "import", str(out))
    assert (code, text) == (0, "Imported 2 memories.\n")
    assert records(capsys, "--profile", "other") == everything  # history and all
    code, text, _ = run(capsys, "memories", "import", str(out), "--profile", "other")
    assert text == "Imported 0 memories; skipped 2 already stored (--replace overwrites them).\n"
    code, text, _ = run(capsys, "memories", "import", "--replace", str(out), "--profile", "other")
    assert text == "Imported 2 memories; 2 of them replacing stored ones.\n"


def test_the_list_json_imports_too(capsys, monkeypatch):
    import io

    added(capsys, "fact", "I keep bees")
    listed = run(capsys, "memories", "list", "--json")[1]
    monkeypatch.setattr("sys.stdin", io.StringIO(listed))
    assert (
        run(capsys, "--profile", "copy", "memories", "import", "-")[1] == "Imported 1 memories.\n"
    )
    assert records(capsys, "--profile", "copy") == json.loads(listed)


@pytest.mark.parametrize(
    "content", ["plain text", '{"format": "chatmem-session", "version": 1}', '[{"id": "m1"}]']
)
def test_a_foreign_file_imports_nothing(capsys, tmp_path, data_dir, content):
    path = tmp_path / "other.json"
    path.write_text(content)
    code, out, err = run(capsys, "memories", "import", str(path))
    assert (code, out) == (1, "") and err.startswith(f"Could not import {path}: ")
    assert err.count("\n") == 1 and err.endswith("; nothing was imported.\n")
    assert not data_dir.exists()
