"""Opening a stored 2,000-message session: ms until it is usable, next to a 20-message one.

The real app runs headless with its real worker process on a profile holding both sessions
(Markdown replies with code blocks, as real chats have). Measured from the moment the
request to open the session is sent (as Enter on the sessions screen sends it) until its
newest messages are mounted, laid out and the prompt has focus. Also measured: the same
from a cold start of the app (resuming the long session). Prints medians of several runs.
Target: < 1,000 ms for 2,000 messages.

    python benchmarks/long_session.py [--messages 2000 20] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import until

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.domain.tokens import TokenCounter
from chatmem.store.profile import Profile
from chatmem.ui.app import ChatmemApp

WORDS = ("the", "garden", "tomato", "seed", "april", "frost", "bees", "hive", "cello", "train")
CODE = "```python\ndef plant(seed):\n    return seed.water(ml=250)\n```"


def message(rng: random.Random, i: int, counter: TokenCounter, at: float) -> p.ChatMessage:
    role = "user" if i % 2 == 0 else "assistant"
    length = rng.randint(8, 60 if role == "user" else 160)
    words = " ".join(rng.choice(WORDS) for _ in range(length))
    text = words if role == "user" else f"**Notes**\n\n- {words}\n- {words[:80]}\n\n{CODE}"
    return p.ChatMessage(f"m{i}", role, text, at + i, counter.count_message(text))


def fill(data: Path, sizes: list[int]) -> list[str]:
    rng = random.Random(7)
    counter = TokenCounter("gpt-4o-mini")
    now = time.time() - 86400
    ids = []
    with Profile.open(data, "bench") as profile:
        for n, size in enumerate(sizes):
            session = profile.sessions.create(now + n, f"{size} messages")
            profile.sessions.extend(
                session.id, [message(rng, i, counter, now + n) for i in range(size)]
            )
            ids.append(session.id)
    return ids


def usable(app: ChatmemApp, session_id: str, last_id: str) -> bool:
    chat = app.chat
    views = chat.transcript.views if hasattr(chat, "transcript") else []
    return (
        chat.session_id == session_id
        and bool(views)
        and views[-1].message.id == last_id
        and app.focused is not None
        and app.focused.id == "prompt"
        and all(part.size.height > 0 for part in views[-1].parts)  # laid out, not just mounted
    )


async def measure(settings: Settings, ids: list[str], sizes: list[int], runs: int):
    opened: dict[int, list[float]] = {size: [] for size in sizes}
    app = ChatmemApp(settings, blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: app.chat.session_id != "", timeout=60)
        await pilot.pause()
        for _ in range(runs):
            for session_id, size in zip(ids, sizes, strict=True):
                start = time.perf_counter()
                app.send(p.OpenSession(session_id))
                await until(lambda s=session_id, n=size: usable(app, s, f"m{n - 1}"))
                opened[size].append((time.perf_counter() - start) * 1000)
                await pilot.pause()
    return opened


async def cold(settings: Settings, session_id: str, last: int) -> float:
    start = time.perf_counter()
    app = ChatmemApp(settings, blink=False)
    async with app.run_test(size=(120, 40)):
        await until(lambda: usable(app, session_id, f"m{last - 1}"), timeout=60)
        return (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, nargs="+", default=[2000, 20])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["XDG_STATE_HOME"] = str(home / "state")
        os.environ["XDG_CONFIG_HOME"] = str(home / "config")
        data = home / "data"
        ids = fill(data, args.messages)
        settings = Settings(
            base_url="http://127.0.0.1:9/v1",  # nothing listens: opening needs no model
            model="gpt-4o-mini",
            profile="bench",
            embedding_model="off",
            data_dir=str(data),
            config_path=str(home / "config.toml"),
            state_dir=str(home / "state"),
        )
        opened = asyncio.run(measure(settings, ids, args.messages, args.runs))
        for size in args.messages:
            ms = opened[size]
            print(
                f"open a {size:>5,}-message session: median {statistics.median(ms):6.1f} ms"
                f"  max {max(ms):6.1f} ms  (n={len(ms)})"
            )
        # The app resumes the session with the newest message (created at index + size).
        latest = max(range(len(ids)), key=lambda i: i + args.messages[i])
        size = args.messages[latest]
        starts = [asyncio.run(cold(settings, ids[latest], size)) for _ in range(3)]
        print(
            f"cold start resuming the {size:,}-message session: "
            f"median {statistics.median(starts):6.1f} ms (launch and worker start included)"
        )
    print("target: < 1,000 ms to open a 2,000-message session")


if __name__ == "__main__":
    main()
