"""Token counting, the model table, and fitting a request into the window."""

from __future__ import annotations

import tiktoken

from chatmem.config import ModelOverride, Settings
from chatmem.domain.context import Thresholds, TooLarge, alternate, clip, fit, to_fold
from chatmem.domain.tokens import (
    MESSAGE_OVERHEAD,
    REPLY_PRIMING,
    TokenCounter,
    clean_text,
    estimate,
)
from chatmem.llm.models import DEFAULT_WINDOW, ModelTable
from chatmem.protocol import ChatMessage


def msg(i: int, text: str, counter: TokenCounter, role: str = "user") -> ChatMessage:
    return ChatMessage(str(i), role, text, 0.0, tokens=counter.count_message(text))


def test_counts_match_tiktoken_exactly():
    counter = TokenCounter("gpt-4o-mini")
    text = "Hello, world! 日本語 and code: `print(1)`"
    assert not counter.estimated
    assert counter.count(text) == len(tiktoken.get_encoding("o200k_base").encode(text))
    assert counter.count_message(text) == counter.count(text) + MESSAGE_OVERHEAD
    assert TokenCounter("gpt-4").count(text) == len(
        tiktoken.get_encoding("cl100k_base").encode(text)
    )


def test_unknown_models_are_estimated():
    counter = TokenCounter("llama3.1:8b")
    assert counter.estimated
    assert counter.count("abcd" * 10) == estimate("abcd" * 10) == 10
    assert estimate("日本語") == 3


def test_lone_surrogates_and_special_tokens_do_not_crash():
    counter = TokenCounter("gpt-4o")
    assert counter.count("a\ud800b") > 0
    assert counter.count("<|endoftext|>") > 1
    assert clean_text("a\ud800b") == "a\ufffdb"
    assert clean_text("🧠") == "🧠"


def test_fit_keeps_everything_that_fits_with_exact_arithmetic():
    counter = TokenCounter("gpt-4o-mini")
    history = [
        msg(i, f"message {i}", counter, "user" if i % 2 == 0 else "assistant") for i in range(6)
    ]
    fitted = fit("system prompt", history, counter, window=10_000, reserve=1_000)
    assert fitted.dropped == 0
    expected = (
        counter.count_message("system prompt") + sum(m.tokens for m in history) + REPLY_PRIMING
    )
    assert fitted.prompt_tokens == expected
    assert [m["content"] for m in fitted.messages] == ["system prompt"] + [
        m.content for m in history
    ]


def test_fit_drops_the_oldest_first():
    counter = TokenCounter("gpt-4o-mini")
    history = [msg(i, "word " * 20, counter, ("user", "assistant")[i % 2]) for i in range(11)]
    per = history[0].tokens
    system = counter.count_message("sys")
    window = system + 3 * per + REPLY_PRIMING + 100
    fitted = fit("sys", history, counter, window=window, reserve=100)
    assert fitted.dropped == 8 and len(fitted.messages) == 4
    assert fitted.prompt_tokens == system + 3 * per + REPLY_PRIMING


def test_fit_refuses_a_message_larger_than_the_window():
    counter = TokenCounter("gpt-4o-mini")
    history = [msg(0, "word " * 500, counter)]
    try:
        fit("sys", history, counter, window=200, reserve=50)
    except TooLarge as exc:
        assert exc.tokens > exc.budget
    else:
        raise AssertionError("expected TooLarge")


def test_model_table_prefix_match_overrides_and_unknown():
    table = ModelTable(Settings())
    assert table.lookup("gpt-4o-mini-2024-07-18").input_price == 0.15
    assert table.lookup("gpt-4o").context_window == 128000
    assert table.lookup("/models/Llama3.1-8B-Instruct.Q4_K_M.gguf").context_window == 131072
    unknown = table.lookup("mystery-model")
    assert (
        unknown.assumed and unknown.context_window == DEFAULT_WINDOW and unknown.cost(1, 1) is None
    )
    custom = ModelTable(
        Settings(
            models={
                "mystery-model": ModelOverride(
                    context_window=4096, input_price=1.0, output_price=2.0
                )
            }
        )
    )
    info = custom.lookup("mystery-model")
    assert not info.assumed and info.context_window == 4096
    assert info.cost(1_000_000, 500_000) == 2.0
    forced = ModelTable(Settings(context_window=2048)).lookup("gpt-4o")
    assert forced.context_window == 2048 and not forced.assumed


def _said(n: int, words: int = 20) -> list[ChatMessage]:
    return [
        ChatMessage(f"m{i}", "user" if i % 2 == 0 else "assistant", "word " * words, float(i))
        for i in range(n)
    ]


def test_folding_starts_at_the_token_or_the_message_threshold():
    counter = TokenCounter("gpt-4o-mini")
    history = _said(10)  # 10 messages of 24 tokens each (20 words + 4 of framing)
    cost = counter.count_message(history[0].content)
    assert to_fold(history, counter, 10_000, Thresholds(10**9, 80)) == 0
    by_messages = to_fold(history, counter, 10_000, Thresholds(10**9, 6))
    assert by_messages == 6  # keeps half of the threshold (3 newest), from where a turn starts
    by_tokens = to_fold(history, counter, 10_000, Thresholds(cost * 6, 80))
    assert by_tokens == 6  # keeps what fits in half of 6 messages' worth, whole turns
    by_room = to_fold(history, counter, cost * 4, Thresholds(10**9, 80))
    assert by_room == 8  # does not fit at all: keeps half the room, but never fewer than 2
    assert to_fold(history[:2], counter, 1, Thresholds(1, 1)) == 0


def test_clip_cuts_an_overlong_summary_to_its_limit():
    counter = TokenCounter("gpt-4o-mini")
    clipped = clip("lorem ipsum dolor " * 200, counter, 50)
    assert counter.count(clipped) <= 50 and clipped.endswith("…")
    assert clip("short", counter, 50) == "short"
    assert clip("anything at all", counter, 0) == "…"


def test_a_fold_never_parts_a_question_from_its_answer():
    counter = TokenCounter("gpt-4o-mini")
    history = _said(9)  # u a u a u a u a u: the newest question last
    for limits in (Thresholds(10**9, 4), Thresholds(10**9, 5), Thresholds(100, 80)):
        count = to_fold(history, counter, 10_000, limits)
        assert count and history[count].role == "user"


def test_roles_alternate_whatever_was_stored():
    said = [
        ("system", "s"),
        ("assistant", "an answer whose question was trimmed"),
        ("user", "q1"),
        ("assistant", "cut off"),
        ("assistant", "the resend"),
        ("user", "never answered"),
        ("user", "q2"),
    ]
    sent = alternate([{"role": r, "content": c} for r, c in said])
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "s"),
        ("user", "q1"),
        ("assistant", "the resend"),
        ("user", "never answered\n\nq2"),
    ]
