"""The worker without the UI: requests in, events out, state on disk (real TinyDB files)."""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.domain.context import SUMMARY_HEADING
from chatmem.domain.tokens import REPLY_PRIMING, TokenCounter
from chatmem.store.profile import Profile
from tests.fake_openai import Cut, Error, Hang, Reply
from tests.harness import WorkerHarness


async def started(settings, **kwargs) -> WorkerHarness:
    harness = WorkerHarness(settings)
    await harness.request(p.Start(settings, **kwargs))
    return harness


async def test_start_opens_a_session_and_reports_usage(settings):
    h = await started(settings)
    loaded = h.last(p.SessionLoaded)
    assert loaded.messages == () and loaded.configured
    usage = h.last(p.UsageUpdated).usage
    assert usage.model == "gpt-4o-mini" and usage.context_window == 128000
    assert not usage.window_assumed and not usage.estimated
    await h.close()


async def test_send_streams_a_reply_and_stores_both_messages(settings, fake_openai):
    h = await started(settings)
    await h.request(p.SendMessage("Hello there"))
    saved = h.last(p.MessageSaved).message
    assert saved.role == "user" and saved.content == "Hello there" and saved.tokens > 0
    deltas = "".join(e.text for e in h.of(p.ReplyDelta))
    done = h.last(p.ReplyDone).message
    assert done.content == deltas == "Echo: Hello there"
    assert done.status == "ok" and done.prompt_tokens > 0 and done.completion_tokens > 0
    sent = fake_openai.chat_requests()[-1].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][-1]["role"] == "user"
    assert fake_openai.chat_requests()[-1].said[-1] == "Hello there"
    usage = h.last(p.UsageUpdated).usage
    assert usage.session_prompt == done.prompt_tokens and usage.session_cost is not None
    session_id = h.last(p.SessionLoaded).session.id
    await h.close()
    with Profile.open(Path(settings.data_dir), "default") as profile:
        stored, _ = profile.sessions.recent(session_id, 10)
    assert [m.content for m in stored] == ["Hello there", "Echo: Hello there"]


async def test_history_goes_into_the_next_request(settings, fake_openai):
    h = await started(settings)
    await h.request(p.SendMessage("first"))
    await h.request(p.SendMessage("second"))
    contents = fake_openai.chat_requests()[-1].said[1:]
    assert contents == ["first", "Echo: first", "second"]
    await h.close()


async def test_server_rejecting_stream_options_falls_back(settings, fake_openai):
    fake_openai.reject_stream_options = True
    h = await started(settings)
    await h.request(p.SendMessage("hi"))
    assert h.last(p.ReplyDone).message.content == "Echo: hi"
    bodies = [r.body for r in fake_openai.chat_requests()]
    assert "stream_options" in bodies[0] and "stream_options" not in bodies[-1]
    # no usage from the server: counted with tiktoken instead
    assert h.last(p.ReplyDone).message.completion_tokens > 0
    await h.close()


async def test_llama_cpp_server_without_usage(settings, fake_openai):
    fake_openai.flavor = "llama.cpp"
    h = await started(settings)
    await h.request(p.SendMessage("hi"))
    done = h.last(p.ReplyDone).message
    assert done.status == "ok" and done.prompt_tokens > 0
    await h.close()


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        (Error(401, "Incorrect API key provided", code="invalid_api_key"), "auth"),
        (Error(404, "The model does not exist", code="model_not_found"), "not_found"),
        (Error(429, "Rate limit reached", headers={"retry-after": "0"}), "rate_limit"),
        (Error(500, "boom"), "server"),
        (Hang(5), "timeout"),
    ],
)
async def test_errors_keep_the_message_and_say_what_to_do(settings, fake_openai, behaviour, kind):
    h = await started(replace(settings, request_timeout=0.5))
    fake_openai.script(behaviour)
    await h.request(p.SendMessage("please answer"))
    failed = h.last(p.ReplyFailed)
    assert failed.error.kind == kind
    assert settings.base_url in failed.error.message
    assert failed.user_message_id == h.last(p.MessageSaved).message.id
    assert not h.of(p.ReplyDone)
    # the message is stored, marked failed, and one request resends it
    assert h.worker.history[-1].status == "failed"
    await h.request(p.Resend(failed.user_message_id))
    assert h.last(p.ReplyDone).message.content == "Echo: please answer"
    assert h.worker.history[0].status == "ok" and len(h.worker.history) == 2
    await h.close()


async def test_connection_refused(settings):
    h = await started(replace(settings, base_url="http://127.0.0.1:9/v1"))
    await h.request(p.SendMessage("anyone?"))
    error = h.last(p.ReplyFailed).error
    assert error.kind == "connection" and "127.0.0.1:9" in error.message
    await h.close()


async def test_a_cut_stream_keeps_the_partial_reply_marked_cut(settings, fake_openai):
    h = await started(settings)
    fake_openai.script(Cut("The answer is forty-two, because", after=3))
    await h.request(p.SendMessage("why?"))
    failed = h.last(p.ReplyFailed)
    assert failed.error.kind == "cut" and failed.partial is not None
    stored = h.worker.history[-1]
    assert stored.role == "assistant" and stored.status == "cut" and stored.content
    assert "The answer is forty-two, because".startswith(stored.content)
    await h.close()


async def test_cancel_keeps_partial_text_marked_cut(settings, fake_openai):
    fake_openai.chunk_delay = 0.05
    h = await started(settings)
    fake_openai.script(Reply("word " * 200))
    send = p.SendMessage("talk a lot")
    await h.worker.handle(send)
    while not h.of(p.ReplyDelta):
        await asyncio.sleep(0.01)
    await h.request(p.Cancel(send.id))
    done = h.last(p.ReplyDone).message
    assert done.status == "cut" and done.content.startswith("word")
    assert h.worker.history[-1] == done
    await h.close()


@pytest.mark.parametrize("shown", [0, 7, 10_000])
async def test_cancel_keeps_exactly_what_the_user_saw(settings, fake_openai, shown):
    fake_openai.chunk_delay = 0.05
    h = await started(settings)
    fake_openai.script(Reply("word " * 200))
    send = p.SendMessage("talk a lot")
    await h.worker.handle(send)
    while len("".join(e.text for e in h.of(p.ReplyDelta))) < 12:
        await asyncio.sleep(0.01)
    await h.request(p.Cancel(send.id, shown=shown))
    received = "".join(e.text for e in h.of(p.ReplyDelta))  # nothing more after the Cancel
    done = h.last(p.ReplyDone).message
    assert done.status == "cut" and h.last(p.ReplyDone).request_id == send.id
    if shown <= len(received):
        assert done.content == received[:shown]
    else:  # all that arrived, shown or not yet
        assert done.content.startswith(received) and "word word" in done.content
    assert h.worker.history[-1] == (done if shown else h.last(p.MessageSaved).message)
    session_id = h.last(p.SessionLoaded).session.id
    await h.close()
    with Profile.open(Path(settings.data_dir), "default") as profile:
        stored, _ = profile.sessions.recent(session_id, 10)
    assert [m.content for m in stored] == ["talk a lot", *([done.content] if shown else [])]


async def test_cancel_after_the_reply_was_whole_cuts_it_to_what_was_shown(settings, fake_openai):
    """Esc while the UI still draws a reply the worker finished: the first ``shown``
    characters are kept, stored, indexed and counted as a reply stopped then."""
    h = await started(settings)
    fake_openai.script(Reply("Saw alpha then gamma and delta"))
    send = p.SendMessage("what did you see?")
    await h.request(send)
    whole = h.last(p.ReplyDone).message
    usage = h.last(p.UsageUpdated).usage
    events = len(h.events)
    await h.request(p.Cancel(send.id, shown=9))
    assert [type(e) for e in h.events[events:]] == [p.UsageUpdated]
    cut = h.worker.history[-1]
    assert (cut.id, cut.content, cut.status) == (whole.id, "Saw alpha", "cut")
    assert cut.completion_tokens < whole.completion_tokens and cut.tokens < whole.tokens
    assert h.last(p.UsageUpdated).usage.session_completion == (
        usage.session_completion - whole.completion_tokens + cut.completion_tokens
    )
    await h.request(p.SearchSessions("gamma"))
    assert h.last(p.SearchResults).total == 0
    await h.request(p.SearchSessions("alpha"))
    assert h.last(p.SearchResults).total == 1
    await h.request(p.Cancel(send.id, shown=3))  # once only: it is no longer the whole reply
    assert h.worker.history[-1] == cut
    session_id = h.last(p.SessionLoaded).session.id
    await h.close()
    h = await started(settings, session_id=session_id)
    reopened = h.last(p.SessionLoaded).messages
    assert reopened[-1] == cut
    await h.close()
    with Profile.open(Path(settings.data_dir), "default") as profile:
        info = profile.sessions.get(session_id)
    assert info is not None and info.tokens == sum(m.tokens for m in reopened)


async def test_cancel_after_the_reply_keeps_it_when_all_was_shown(settings, fake_openai):
    h = await started(settings)
    send = p.SendMessage("hi")
    await h.request(send)
    whole = h.last(p.ReplyDone).message
    events = len(h.events)
    await h.request(p.Cancel(send.id, shown=len(whole.content)))
    await h.request(p.Cancel(send.id))  # -1: nothing to cut
    assert h.events[events:] == [] and h.worker.history[-1] == whole
    await h.close()


async def test_not_configured_keeps_the_message(settings):
    h = await started(replace(settings, api_key="", base_url="https://api.openai.com/v1"))
    assert not h.last(p.SessionLoaded).configured
    await h.request(p.SendMessage("hello?"))
    assert h.last(p.MessageSaved).message.content == "hello?"
    assert h.last(p.ReplyFailed).error.kind == "no_key"
    await h.close()


async def test_too_large_is_refused_before_storing(settings, fake_openai):
    h = await started(replace(settings, context_window=300))
    await h.request(p.SendMessage("many words " * 400))
    failed = h.last(p.ReplyFailed)
    assert failed.error.kind == "too_large" and failed.user_message_id == ""
    assert not h.of(p.MessageSaved) and not fake_openai.chat_requests()
    await h.close()


async def test_small_window_trims_oldest_turns(settings, fake_openai):
    h = await started(replace(settings, context_window=400))
    for i in range(12):
        await h.request(p.SendMessage(f"message number {i} " + "padding " * 10))
    for request in fake_openai.chat_requests():
        assert request.body["messages"][0]["role"] == "system"
    last = fake_openai.chat_requests()[-1].body["messages"]
    assert fake_openai.chat_requests()[-1].said[-1].startswith("message number 11")
    assert len(last) < 24
    await h.close()


async def test_resume_and_new_session(settings):
    h = await started(settings)
    await h.request(p.SendMessage("remember this session"))
    await h.close()
    h = await started(settings)
    assert h.last(p.SessionLoaded).messages[0].content == "remember this session"
    await h.close()
    h = await started(settings, new_session=True)
    assert h.last(p.SessionLoaded).messages == ()
    await h.close()


async def test_load_older_pages_back(settings):
    h = await started(settings)
    for i in range(30):
        await h.request(p.SendMessage(f"m{i}"))
    await h.close()
    h = await started(settings)
    loaded = h.last(p.SessionLoaded)
    assert loaded.has_older and len(loaded.messages) == 30
    await h.request(p.LoadOlder(loaded.messages[0].id, limit=8))
    older = h.last(p.OlderMessages)
    assert loaded.messages[0].content == "m15"
    expected = [x for i in range(11, 15) for x in (f"m{i}", f"Echo: m{i}")]
    assert [m.content for m in older.messages] == expected
    assert older.has_older
    await h.close()


async def test_save_settings_writes_a_private_config(settings, fake_openai):
    h = await started(replace(settings, model="", api_key="", base_url="https://api.openai.com/v1"))
    await h.request(
        p.SaveSettings({"base_url": fake_openai.url, "api_key": "sk-test", "model": "test-model"})
    )
    saved = h.last(p.SettingsSaved)
    assert saved.configured and saved.settings.model == "test-model"
    config = Path(settings.config_path)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert 'model = "test-model"' in config.read_text()
    await h.request(p.SendMessage("now?"))
    assert h.last(p.ReplyDone).message.content == "Echo: now?"
    await h.close()


async def test_list_models_from_a_llama_cpp_server(settings, fake_openai):
    fake_openai.flavor = "llama.cpp"
    h = await started(settings)
    await h.request(p.ListModels(fake_openai.url))
    models = h.last(p.ModelsListed).models
    assert models and all(m.startswith("/") for m in models)
    await h.close()


async def test_list_models_failure_is_reported(settings):
    h = await started(settings)
    await h.request(p.ListModels("http://127.0.0.1:9/v1"))
    listed = h.last(p.ModelsListed)
    assert listed.models == () and "127.0.0.1:9" in listed.error
    await h.close()


async def test_local_server_is_offered_when_nothing_is_configured(settings, fake_openai):
    local = fake_openai.url.removesuffix("/v1")
    unconfigured = replace(
        settings, api_key="", model="", base_url="https://api.openai.com/v1", ollama_url=local
    )
    h = await started(unconfigured)
    found = h.last(p.LocalServerFound)
    assert found.base_url == fake_openai.url and "gpt-4o-mini" in found.models
    await h.close()


async def test_a_second_worker_on_a_locked_profile_shows_it_read_only(settings):
    h = await started(settings)
    await h.request(p.SendMessage("written by the first"))
    other = await started(settings)
    loaded = other.last(p.SessionLoaded)
    assert "'default' is open in another chatmem" in loaded.readonly
    assert [m.content for m in loaded.messages] == [
        "written by the first",
        "Echo: written by the first",
    ]
    await other.request(p.SendMessage("typed in the second"))
    failed = other.last(p.ReplyFailed)
    assert failed.user_message_id == "" and failed.error.kind == "read_only"
    assert "another chatmem" in failed.error.message and not other.of(p.MessageSaved)
    await h.close()  # the first lets go: the next message is saved and answered
    await other.request(p.SendMessage("typed in the second"))
    assert other.last(p.SessionLoaded).readonly == ""
    assert other.last(p.ReplyDone).message.content == "Echo: typed in the second"
    await other.close()


async def test_store_files_are_private(settings):
    h = await started(settings)
    await h.request(p.SendMessage("secret diary"))
    await h.close()
    for root, dirs, files in os.walk(settings.data_dir):
        for d in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode) == 0o700
        for f in files:
            assert stat.S_IMODE(os.stat(os.path.join(root, f)).st_mode) & 0o077 == 0


async def test_odd_unicode_round_trips(settings):
    text = "naïve café — 日本語 🧠 \u202eRTL\u202c null\x00 lone\ud800 end"
    h = await started(settings)
    await h.request(p.SendMessage(text))
    await h.close()
    h = await started(settings)
    stored = h.last(p.SessionLoaded).messages[0].content
    assert stored == text.replace("\ud800", "\ufffd")
    await h.close()


def request_tokens(request) -> int:
    counter = TokenCounter("gpt-4o-mini")
    messages = request.body["messages"]
    return sum(counter.count_message(m["content"]) for m in messages) + REPLY_PRIMING


async def test_a_long_conversation_is_folded_into_a_summary_that_fits(settings, fake_openai):
    h = await started(replace(settings, context_window=600))
    window = h.worker._model().context_window
    reserve = h.worker._model().max_output_tokens
    for i in range(16):
        await h.request(p.SendMessage(f"message number {i} " + "padding " * 10))
    assert not h.of(p.ReplyFailed)
    for request in fake_openai.chat_requests():
        assert request_tokens(request) <= window - reserve
    last = fake_openai.chat_requests()[-1].body["messages"]
    assert SUMMARY_HEADING in last[0]["content"]
    assert fake_openai.chat_requests()[-1].said[-1].startswith("message number 15")
    folds = [r for r in fake_openai.completion_requests() if "Summary so far" in str(r.body)]
    assert len(folds) >= 2
    first_summary = h.of(p.ContextFolded)[0].summary
    assert first_summary in folds[1].body["messages"][1]["content"]  # carried forward
    summarized = h.last(p.ContextFolded).summarized
    await h.close()

    h = await started(settings)  # resumed: the summary and the whole transcript are kept
    loaded = h.last(p.SessionLoaded)
    assert loaded.summarized == summarized and loaded.summary
    assert len(h.worker.history) == 32
    await h.close()


async def test_the_message_threshold_folds_even_with_room_to_spare(settings, fake_openai):
    h = await started(replace(settings, fold_at_messages=6))
    for i in range(4):
        await h.request(p.SendMessage(f"turn {i}"))
    assert h.of(p.ContextFolded)
    sent = fake_openai.chat_requests()[-1].body["messages"]
    assert len(sent) <= 1 + 6 and SUMMARY_HEADING in sent[0]["content"]
    assert h.last(p.UsageUpdated).usage.summarized_messages == h.last(p.ContextFolded).summarized
    await h.close()


async def test_when_the_model_cannot_summarize_the_oldest_turns_are_trimmed(settings, fake_openai):
    h = await started(replace(settings, fold_at_messages=4))
    for i in range(2):
        await h.request(p.SendMessage(f"turn {i}"))
    fake_openai.script_completion(Error(500, times=2))
    await h.request(p.SendMessage("turn 2"))
    assert "Could not summarize" in h.last(p.Notice).text
    assert not h.of(p.ContextFolded) and not h.of(p.ReplyFailed)
    assert fake_openai.chat_requests()[-1].said[-1] == "turn 2"
    await h.close()
