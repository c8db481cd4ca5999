"""A reply that loops is stopped, kept, marked and said; one that only looks alike is not."""

from __future__ import annotations

from chatmem import protocol as p
from chatmem.llm.runaway import CHECK_EVERY, LoopWatch
from tests.fake_openai import Reply
from tests.harness import WorkerHarness

LOOP = "Sure! Here is a poem about the sea.\n\n" + "The waves go up, the waves go down, " * 200
TABLES = "\n\n".join(
    f"Table {i}:\n\n| name | value |\n| ---- | ----- |\n| a{i} | {i} |\n| b{i} | {2 * i} |"
    for i in range(8)
)
STEPS = "\n".join(
    f"{i}. Add {i} cups of water, stir for {i} minutes, then wait." for i in range(40)
)
CODE = "```python\n" + "".join(f"values.append(compute({i}, {i * 3}))\n" for i in range(60)) + "```"
SAME_LINES = "Tests:\n\n```python\n" + "    self.assertEqual(result, expected)\n" * 8 + "```\n"


def streamed(text: str, size: int = 7) -> bool:
    watch = LoopWatch()
    return any(watch.add(text[i : i + size]) for i in range(0, len(text), size))


def test_a_loop_is_seen_soon_and_other_repetition_is_not():
    watch = LoopWatch()
    seen_at = next(i for i in range(0, len(LOOP), 5) if watch.add(LOOP[i : i + 5]))
    assert seen_at < 40 + 300 + 2 * CHECK_EVERY  # of 7,000 characters
    assert streamed("Oh no. " + "I am sorry for the mistake I made. " * 6)  # a sentence, again
    assert streamed("ha" * 400) and streamed("\n".join(["Thank you so much for asking!"] * 8))
    for text in (TABLES, STEPS, CODE, SAME_LINES, "-" * 100 + "\n" + "=" * 100):
        assert not streamed(text), text[:40]


async def test_a_looping_reply_is_stopped_kept_marked_and_said(settings, fake_openai):
    fake_openai.script(Reply(LOOP))
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    await h.request(p.SendMessage("Write a poem about the sea."))
    reply = h.last(p.ReplyDone).message
    assert reply.status == "cut" and LOOP.startswith(reply.content)
    assert 300 < len(reply.content) < len(LOOP) // 4  # stopped soon after the loop began
    assert "over and over" in h.last(p.Notice).text and h.last(p.Notice).level == "warning"
    assert h.worker.history[-1] == reply  # kept, as the transcript showed it
    assert not [r for r in fake_openai.requests if r.kind == "extract"]  # not learnt from
    await h.request(p.SendMessage("Thanks"))  # the server answers the next one
    assert h.last(p.ReplyDone).message.status == "ok"
    await h.close()


def test_chatmem_ask_prints_a_stopped_loop_and_why(capsys, cli_env, fake_openai):
    from chatmem.cli import main

    fake_openai.script(Reply(LOOP))
    code = main(["ask", "Write a poem about the sea."])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("Sure! Here is a poem") and len(out) < len(LOOP) // 4
    assert "over and over" in err
