"""What a server does, told truly: through `chatmem ask` (the real CLI) against the fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatmem.store.profile import Profile
from tests.fake_openai import Cut, Garbage, Hang, Malformed, Redirect, Reply
from tests.test_cli_ask import run, server_env  # noqa: F401 (the environment, autouse)

GARBLED = b'data: {"choices":[{"index":0,"delta":{"content":"\xff\xfe"}}]}\n\n'


def stored(tmp_path: Path) -> list:
    data = tmp_path / "data" / "chatmem"
    with Profile.open(data, "default", readonly=True) as profile:
        session = profile.sessions.latest()
        return profile.sessions.recent(session.id, 10)[0]


def test_a_timeout_is_not_retried(capsys, monkeypatch, fake_openai):
    monkeypatch.setenv("CHATMEM_TIMEOUT", "1")
    monkeypatch.setenv("CHATMEM_MAX_RETRIES", "2")  # still retried: a refused or failed request
    fake_openai.script(Hang(5), Hang(5), Hang(5))
    code, _, err = run(capsys, "ask", "--no-memory", "hello?")
    assert code == 1 and "within 1 s" in err
    assert len(fake_openai.chat_requests()) == 1


def test_a_reply_that_finished_is_whole_without_done(capsys, tmp_path, fake_openai):
    fake_openai.script(Reply("All of the answer.", done=False))
    code, out, err = run(capsys, "ask", "I like tea")
    assert code == 0 and "All of the answer." in out and "cut off" not in err
    assert [m.status for m in stored(tmp_path)] == ["ok", "ok"]
    assert fake_openai.completion_requests()  # its memories were extracted


def test_a_cut_with_nothing_arrived_does_not_say_what_arrived_is_kept(capsys, fake_openai):
    fake_openai.script(Cut("never seen", after=0))
    code, _, err = run(capsys, "ask", "--no-memory", "hello?")
    assert code == 1 and "sent any text" in err and "arrived is kept" not in err


def test_a_redirect_is_reported_as_one(capsys, fake_openai):
    fake_openai.script(Redirect("/v2/chat/completions", 301))
    code, _, err = run(capsys, "ask", "--no-memory", "hello?")
    assert code == 1 and "not found" not in err.lower() and "404" not in err
    assert f"redirected it (301) to http://127.0.0.1:{fake_openai.port}/v2/" in err


@pytest.mark.parametrize(
    ("behaviour", "said", "raw"),
    [
        (Malformed(), "not JSON", "JSONDecodeError"),
        (Garbage(GARBLED), "not UTF-8", "UnicodeDecodeError"),
    ],
)
def test_an_unreadable_answer_is_named(capsys, fake_openai, behaviour, said, raw):
    fake_openai.script(behaviour)
    code, _, err = run(capsys, "ask", "--no-memory", "hello?")
    assert code == 1 and said in err and raw not in err
