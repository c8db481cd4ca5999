"""The real window learnt from the server where it says it, and limits named when hit."""

from __future__ import annotations

from dataclasses import replace

from chatmem import protocol as p
from chatmem.llm.models import OLLAMA_DEFAULT_WINDOW, window_in_error
from tests.conftest import settings_for
from tests.fake_openai import Error, FakeOpenAI, Reply
from tests.harness import WorkerHarness


async def started(settings) -> WorkerHarness:
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    return h


def test_context_errors_are_told_and_their_window_read():
    llama_cpp_python = (
        "This model's maximum context length is 2048 tokens. However, you requested 3041 "
        "tokens (3031 in the messages, 10 in the completion)."
    )
    assert window_in_error(llama_cpp_python) == 2048
    assert window_in_error("the request exceeds the available context size, try again") == 0
    assert window_in_error("Incorrect API key provided") is None


async def test_a_llama_cpp_window_is_learnt_shown_and_fitted_to(tmp_path):
    with FakeOpenAI(flavor="llama.cpp", n_ctx=2048) as server:
        settings = settings_for(tmp_path, server.url)
        h = await started(settings)
        usage = h.last(p.UsageUpdated).usage
        assert usage.context_window == 2048 and not usage.window_assumed
        for i in range(4):  # 4,000 tokens in all: past 2,048 unless fitted to it
            await h.request(p.SendMessage(f"{i} " + "cat " * 500))
        assert not h.of(p.ReplyFailed)  # the fake refuses a request past its n_ctx
        assert {r.body["max_tokens"] for r in server.chat_requests()} == {512}  # a quarter
        await h.close()


async def test_the_setting_wins_over_what_the_server_says(tmp_path):
    with FakeOpenAI(flavor="llama.cpp", n_ctx=2048) as server:
        h = await started(replace(settings_for(tmp_path, server.url), context_window=1024))
        assert h.last(p.UsageUpdated).usage.context_window == 1024
        assert not [r for r in server.requests if r.path == "/props"]
        await h.close()


async def test_a_context_error_names_the_window_and_the_setting(settings, fake_openai):
    fake_openai.script(Error(400, "This model's maximum context length is 512 tokens."))
    h = await started(settings)
    await h.request(p.SendMessage("hello"))
    error = h.last(p.ReplyFailed).error
    assert error.kind == "too_large" and "512-token window" in error.message
    assert "context_window" in error.message and "settings" in error.steps
    assert h.worker.model.context_window == 512  # learnt: a resend is fitted to it
    await h.request(p.Resend(h.last(p.ReplyFailed).user_message_id))
    assert h.last(p.ReplyDone).message.content == "Echo: hello"
    await h.close()


async def test_an_empty_answer_is_not_called_a_cut_connection(settings, fake_openai):
    fake_openai.script(Reply("", finish_reason=None))
    h = await started(settings)
    await h.request(p.SendMessage("hello"))
    error = h.last(p.ReplyFailed).error
    assert error.kind == "cut" and "sent any text" in error.message
    assert "CHATMEM_CONTEXT_WINDOW" in error.message and "settings" in error.steps
    await h.close()


async def test_a_reply_stopped_at_its_limit_is_marked_cut(settings, fake_openai):
    fake_openai.script(Reply("the start of a long answer", finish_reason="length"))
    h = await started(settings)
    await h.request(p.SendMessage("Tell me everything."))
    failed = h.last(p.ReplyFailed)
    assert failed.error.kind == "length" and "max_output_tokens" in failed.error.message
    assert failed.partial is not None and failed.partial.status == "cut"
    assert h.worker.history[-1].status == "cut"
    assert not [r for r in fake_openai.requests if r.kind == "extract"]  # not learnt from
    await h.close()


async def ollama_window(tmp_path, **answers) -> int:
    """The window learnt from a fake Ollama answering ``/api/show`` and ``/api/ps`` so."""
    with FakeOpenAI(**answers) as server:
        h = await started(replace(settings_for(tmp_path, server.url), model="test-model"))
        window = h.last(p.UsageUpdated).usage.context_window
        await h.close()
    return window


async def test_ollama_says_the_window_a_loaded_model_runs_with(tmp_path):
    running = {"test-model:latest": 6144}  # /api/ps: what it was loaded with wins
    info = {"model_info": {"llama.context_length": 131072}, "parameters": "num_ctx 2048"}
    assert await ollama_window(tmp_path, running=running, show=info) == 6144


async def test_ollama_num_ctx_or_its_default_within_the_model_s_own_length(tmp_path):
    long_model = {"model_info": {"general.architecture": "llama", "llama.context_length": 131072}}
    short_model = {"model_info": {"qwen2.context_length": 2048}, "parameters": "temperature 0.7"}
    num_ctx = {**long_model, "parameters": "stop <|eot_id|>\nnum_ctx 16384"}
    assert await ollama_window(tmp_path / "a", show=num_ctx) == 16384
    assert await ollama_window(tmp_path / "b", show=long_model) == OLLAMA_DEFAULT_WINDOW
    assert await ollama_window(tmp_path / "c", show=short_model) == 2048
