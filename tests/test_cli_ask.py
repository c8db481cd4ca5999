"""`chatmem ask`: one exchange on the worker's logic against the fake server, in-process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from chatmem.cli import main
from chatmem.store.profile import Profile
from tests.conftest import CLI_KEY as KEY
from tests.fake_openai import Cut, Error, Hang, Reply

SOON = {"retry-after-ms": "1"}  # the client's one retry comes at once


@pytest.fixture(autouse=True)
def server_env(cli_env):
    """The environment a user would set, pointing at the fake server."""


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def memory_sent(fake_openai) -> str:
    return fake_openai.chat_requests()[-1].memory


def test_the_reply_streams_to_stdout_and_the_exchange_is_stored(capsys, fake_openai):
    fake_openai.script(Reply("Hi! How can I help?", chunks=["Hi", "! How", " can I help?"]))
    assert run(capsys, "ask", "Hello there") == (0, "Hi! How can I help?\n", "")
    assert fake_openai.chat_requests()[-1].said[-1] == "Hello there"
    (session,) = json.loads(run(capsys, "sessions", "list", "--json")[1])
    assert session["message_count"] == 2 and session["tokens"] > 0


@pytest.mark.parametrize("argv", [["ask"], ["ask", "-"]])
def test_the_question_can_come_on_stdin(capsys, monkeypatch, argv):
    monkeypatch.setattr("sys.stdin", io.StringIO("piped question\n"))
    assert run(capsys, *argv) == (0, "Echo: piped question\n", "")


def test_an_empty_question_is_a_usage_error(capsys, monkeypatch, fake_openai):
    monkeypatch.setattr("sys.stdin", io.StringIO("  \n"))
    code, out, err = run(capsys, "ask")
    assert (code, out) == (2, "") and "empty" in err
    assert not fake_openai.chat_requests()


def test_memory_is_recalled_into_the_request_and_learnt_from_it(capsys, fake_openai):
    assert run(capsys, "memories", "add", "fact", "Alice plays the cello")[0] == 0
    learnt = {"memories": [{"action": "add", "type": "person", "fields": {"name": "Bob"}}]}
    fake_openai.script_completion(Reply(json.dumps(learnt)))
    code, out, err = run(capsys, "ask", "Does Alice play the cello? Bob asked.")
    assert code == 0 and out.startswith("Echo:")
    assert "Alice plays the cello" in memory_sent(fake_openai)
    assert err == "Remembered (person): Bob\n"  # what it learnt, on stderr
    _, out, _ = run(capsys, "memories", "list", "--json")
    assert {
        m["fields"].get("name") or m["fields"].get("note") for m in out and json.loads(out)
    } >= {
        "Bob",
        "Alice plays the cello",
    }


def test_no_memory_recalls_nothing(capsys, fake_openai):
    run(capsys, "memories", "add", "fact", "Alice plays the cello")
    assert run(capsys, "ask", "--no-memory", "Does Alice play the cello?")[0] == 0
    assert "Alice plays the cello" not in memory_sent(fake_openai)
    assert not fake_openai.embedding_requests()


def test_no_memory_learns_nothing(capsys, fake_openai):
    assert run(capsys, "ask", "--no-memory", "My sister is Anna.")[0] == 0
    assert not [r for r in fake_openai.completion_requests() if r.body.get("response_format")]


@pytest.mark.parametrize(
    ("behaviour", "title"),
    [
        (Error(401, "Incorrect API key provided"), "The API key was rejected"),
        (Error(429, "Slow down", headers=SOON, times=2), "Rate limited"),
        (Error(500, "Boom", headers=SOON, times=2), "The server failed"),
        (Hang(3), "The server did not answer in time"),
    ],
)
def test_a_failed_request_exits_1_with_one_line_on_stderr(
    capsys, monkeypatch, fake_openai, behaviour, title
):
    monkeypatch.setenv("CHATMEM_TIMEOUT", "0.3")
    fake_openai.script(behaviour, *([behaviour] if isinstance(behaviour, Hang) else []))
    code, out, err = run(capsys, "ask", "hello")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith(f"{title}: ")
    assert KEY not in err
    assert not any(key in err for key in ("Ctrl+", "F2", "press")), (
        "the app's keys mean nothing here"
    )


def test_a_cut_stream_keeps_what_arrived_and_fails(capsys, fake_openai):
    fake_openai.script(Cut("Once upon a time there was", after=2))
    code, out, err = run(capsys, "ask", "a story")
    assert (code, out) == (1, "Once upo\n")
    assert err.startswith("The reply was cut off: ") and err.count("\n") == 1


def test_no_server_exits_1(capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    code, out, err = run(capsys, "ask", "hello")
    assert (code, out) == (1, "") and err.startswith("Cannot reach the server: ")
    assert "Ctrl+" not in err and "F2" not in err


def test_no_key_exits_1(capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, err = run(capsys, "ask", "hello")
    assert (code, out) == (1, "") and err.startswith("No API key: ")


def test_a_profile_in_use_exits_1(capsys, isolated_home, fake_openai):
    with Profile.open(Path(isolated_home / "data" / "chatmem"), "default"):
        code, out, err = run(capsys, "ask", "hello")
    assert (code, out) == (1, "") and "is open in another chatmem" in err
    assert not fake_openai.chat_requests()


def test_an_earlier_session_gets_its_journal_entry_as_in_the_app(capsys, fake_openai):
    """The chat service writes what the app's worker writes at its start: the entry of a
    session that ended without one (here: the first question's)."""
    assert run(capsys, "ask", "I like green tea.")[0] == 0
    (first,) = json.loads(run(capsys, "sessions", "list", "--json")[1])
    assert not [r for r in fake_openai.requests if r.kind == "journal"]
    assert run(capsys, "ask", "And coffee?") == (0, "Echo: And coffee?\n", "")
    asked = [r.said[-1] for r in fake_openai.requests if r.kind == "journal" and r.body]
    assert asked and all("I like green tea." in a and "coffee" not in a for a in asked)
    _, out, _ = run(capsys, "memories", "list", "--json")
    (entry,) = [m for m in json.loads(out) if m["kind"] == "conversation"]
    assert entry["fields"]["session_id"] == first["id"] and entry["fields"]["summary"]
