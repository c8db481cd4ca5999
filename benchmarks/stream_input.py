"""What a user sees while a long reply streams: chatmem in a real pseudo-terminal.

For each reply shape (one fenced code block, one long paragraph, a long list, a table, many
short blocks), at full speed and at 100 tokens/s, the fake server streams the reply while
a key is typed into the prompt every ``--every`` seconds; each key is a distinct character,
so its echo is found in the terminal output. Prints per run:
- on screen: seconds from the server's last byte until the reply's last word is drawn,
- echo p50/p95/max: keystroke-to-screen latency while it streams,
- freeze: the longest gap in the terminal output while keys are being typed (until 1 s
  after the reply is on screen) — a frozen UI draws nothing, not even the keys,
- Esc: in a second run, Esc pressed mid-reply (no keys typed after it); seconds until "cut
  off" is drawn (when the header is in view), and until the reply last grew on screen.

Targets: 1,000-line code block on screen <= 1 s after the last byte (3,000 lines <= 3 s);
echo p95 <= 50 ms, max <= 150 ms; Esc <= 200 ms; no freeze > 100 ms at the end of a reply.

    python benchmarks/stream_input.py [--shapes code1000,paragraph] [--runs 1]
    python benchmarks/stream_input.py --source /path/to/other/checkout  # the same, other code
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from tests import fake_openai
from tests.fake_openai import FakeOpenAI, Reply

END = "ENDMARK"
COLS, ROWS = 120, 40


def code(lines: int) -> tuple[str, list[str]]:
    body = [
        f"def handler_{i}(value):  # step {i}" if i % 2 else f"    return value + {i}"
        for i in range(lines - 1)
    ]
    text = "```python\n" + "\n".join(body) + f"\n# {END}\n```\n"
    return text, text.splitlines(keepends=True)


def words(text: str) -> list[str]:
    out, start = [], 0
    for i, ch in enumerate(text):
        if ch in " \n" and i + 1 > start:
            out.append(text[start : i + 1])
            start = i + 1
    return [*out, text[start:]] if start < len(text) else out


def paragraph(count: int) -> tuple[str, list[str]]:
    """Two words a chunk (the fake server counts a chunk as a token): 20,000 words stay
    within a model's 16,384 output tokens, as they would in real tokens."""
    text = " ".join(f"w{i}" for i in range(count)) + f" {END}."
    each = words(text)
    return text, ["".join(each[i : i + 2]) for i in range(0, len(each), 2)]


def listing(count: int) -> tuple[str, list[str]]:
    text = "\n".join(f"- item {i}: some **words** about item {i}" for i in range(count))
    text += f"\n- {END}\n"
    return text, words(text)


def table(rows: int) -> tuple[str, list[str]]:
    text = "| n | square | note |\n|---|---|---|\n"
    text += "\n".join(f"| {i} | {i * i} | row {i} |" for i in range(rows)) + f"\n| {END} | | |\n"
    return text, words(text)


def markdown(words_: int) -> tuple[str, list[str]]:
    parts, total, i = [], 0, 0
    while total < words_:
        parts.append(f"## Part {i}\n\nSome text for part {i}, " + "with words " * 20 + ".")
        parts.append("- one point\n- another point\n- a third")
        parts.append(f"```\nx = {i}\ny = x * 2\n```")
        total, i = total + 60, i + 1
    text = "\n\n".join(parts) + f"\n\nThe end: {END}.\n"
    return text, words(text)


SHAPES = {  # the reply, its chunks, and where its text numbers its lines (or words)
    "code1000": lambda: (*code(1000), re.compile(rb"step (\d+)")),
    "code3000": lambda: (*code(3000), re.compile(rb"step (\d+)")),
    "paragraph": lambda: (*paragraph(20_000), re.compile(rb"w(\d+)")),
    "list": lambda: (*listing(1500), re.compile(rb"item (\d+)")),
    "table": lambda: (*table(1000), re.compile(rb"row (\d+)")),
    "markdown": lambda: (*markdown(6000), re.compile(rb"Part (\d+)")),
}


class Terminal:
    """chatmem in a pseudo-terminal; output is timestamped as it arrives."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        os.set_blocking(master, False)
        self.master = master
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.chunks: list[tuple[float, bytes]] = []
        self.tail = b""

    def pump(self, wait: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 1 << 20)
        except OSError:
            return b""
        self.chunks.append((time.perf_counter(), data))
        self.tail = (self.tail + data)[-8192:]
        return data

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait_for(self, marker: bytes, timeout: float) -> float | None:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            if self.pump(0.01) and marker in self.tail:
                return time.perf_counter()
        return None

    def close(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        os.close(self.master)


def keys() -> list[str]:
    return [chr(0x4E00 + i) for i in range(20_000)]  # distinct, one per keystroke


def run(
    argv: list[str],
    env: dict[str, str],
    reply: tuple[str, list[str], re.Pattern],
    delay: float,
    every: float,
    escape_after: float | None,
    timeout: float,
) -> dict[str, float | list[float] | None]:
    text, chunks, probe = reply
    last_byte: list[float] = []
    original = fake_openai._Handler._stream

    def stream(self, *args, **kwargs):
        original(self, *args, **kwargs)
        last_byte.append(time.perf_counter())

    fake_openai._Handler._stream = stream  # type: ignore[method-assign]
    try:
        with FakeOpenAI(chunk_delay=delay) as server:
            server.script(Reply(text, chunks=chunks))
            env = {**env, "OPENAI_BASE_URL": server.url}
            term = Terminal(argv, env)
            try:
                return _drive(term, escape_after, every, timeout, last_byte, probe)
            finally:
                term.close()
    finally:
        fake_openai._Handler._stream = original  # type: ignore[method-assign]


def _drive(term, escape_after, every, timeout, last_byte, probe) -> dict:
    if term.wait_for("Message…".encode(), 30) is None:
        raise RuntimeError("chatmem never showed its prompt")
    term.pump(1.0)
    while term.pump(0.3):  # until start-up has drawn everything
        pass
    term.type("Write it all out.\r")
    sent = time.perf_counter()
    pending = iter(keys())
    typed: dict[bytes, float] = {}
    echoes: list[float] = []
    next_key = sent + 0.3
    shown: float | None = None
    escaped: float | None = None
    cut_seen: float | None = None
    stop_typing = sent + timeout
    rubouts = 0  # keys shown, not yet rubbed out
    furthest, grew = -1, sent  # the furthest line (or word) of the reply drawn, and when
    while time.perf_counter() < stop_typing:
        now = time.perf_counter()
        if now >= next_key:
            key = next(pending)
            term.type(key)
            typed[key.encode()] = now
            next_key = now + every
        if escape_after is not None and escaped is None and now - sent >= escape_after:
            term.type("\x1b")
            escaped = now
            next_key = float("inf")  # a key right after Esc would read as Alt+key
        before = term.tail[-16:]
        data = term.pump(0.002)
        if not data:
            continue
        at = term.chunks[-1][0]
        seen = before + data  # a redraw can be larger than the tail: search what arrived
        numbers = [int(n) for n in probe.findall(data)]
        if numbers and max(numbers) > furthest:
            furthest, grew = max(numbers), at
        for mark in [m for m in typed if m in seen]:
            echoes.append(at - typed.pop(mark))
            rubouts += 1
        if rubouts and not typed and escaped is None:  # (after Esc: Alt+Backspace)
            term.type("\x7f" * rubouts)  # the prompt stays one short line; not while a key
            rubouts = 0  # is on its way, or its Backspace would rub out that key unseen
        if shown is None and END.encode() in seen:
            shown = at
            stop_typing = at + 1.0
        if escaped is not None and cut_seen is None and b"cut off" in seen:
            cut_seen = at
            stop_typing = at + 3.0
    window = [t for t, _ in term.chunks if t >= sent + 0.3]
    gaps = [b - a for a, b in itertools.pairwise(window)]
    late = time.perf_counter() + 1.0  # keys typed just before the stop still get a second
    while typed and time.perf_counter() < late:
        before = term.tail[-16:]
        if data := term.pump(0.01):
            for mark in [m for m in typed if m in before + data]:
                echoes.append(term.chunks[-1][0] - typed.pop(mark))
    lost = len(typed)  # not on screen a second after typing stopped
    end = last_byte[0] if last_byte else None
    result: dict = {
        "total": (shown - sent) if shown else None,
        "after_last_byte": (shown - end) if shown and end else None,
        "echoes": echoes,
        "lost": lost,
        "freeze": max(gaps) if gaps else None,
    }
    if escaped is not None:
        result["esc_cut"] = (cut_seen - escaped) if cut_seen else None
        result["esc_still"] = max(grew - escaped, 0.0)
    return result


def ms(value: float | None) -> str:
    return "   -   " if value is None else f"{value * 1000:7.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--speeds", default="full,100", help="full and/or tokens per second")
    ap.add_argument("--every", type=float, default=0.05, help="seconds between keystrokes")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--slow-timeout", type=float, default=12.0, help="at 100 tokens/s")
    ap.add_argument("--escape-after", type=float, default=3.0, help="when it did not end")
    ap.add_argument("--source", help="run chatmem from this checkout instead")
    args = ap.parse_args()
    root = Path(args.source or Path(__file__).resolve().parent.parent).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(root),
            "TERM": "xterm-256color",
            "COLUMNS": str(COLS),
            "LINES": str(ROWS),
            "OPENAI_API_KEY": "sk-bench",
            "CHATMEM_MODEL": "gpt-4o-mini",
            "CHATMEM_OLLAMA_URL": "http://127.0.0.1:9",
        }
        argv = [sys.executable, "-m", "chatmem", "--new"]
        print(f"chatmem from {root}; {COLS}x{ROWS}; a key every {args.every * 1000:.0f} ms")
        print(
            f"{'shape':<10} {'speed':>5} | {'total':>7} {'on scr':>7} | {'echo50':>7} "
            f"{'echo95':>7} {'echomax':>7} {'lost':>4} | {'freeze':>7} | {'esc cut':>7} "
            f"{'esc still':>9}   (ms)"
        )
        homes = (  # a new home each run: no earlier session to journal at start
            {f"XDG_{d.upper()}_HOME": f"{tmp}/{n}/{d}" for d in ("config", "data", "state")}
            for n in itertools.count()
        )
        for shape in args.shapes.split(","):
            reply = SHAPES[shape]()
            for speed in args.speeds.split(","):
                delay = 0.0 if speed == "full" else 1 / float(speed)
                timeout = args.timeout if speed == "full" else args.slow_timeout
                r = run(argv, {**env, **next(homes)}, reply, delay, args.every, None, timeout)
                escape = 0.4 * r["total"] if r["total"] else args.escape_after  # mid-reply
                e = run(argv, {**env, **next(homes)}, reply, delay, args.every, escape, timeout)
                echoes = sorted(r["echoes"])
                p50 = statistics.median(echoes) if echoes else None
                p95 = echoes[int(len(echoes) * 0.95)] if echoes else None
                print(
                    f"{shape:<10} {speed:>5} | {ms(r['total'])} {ms(r['after_last_byte'])} | "
                    f"{ms(p50)} {ms(p95)} {ms(echoes[-1] if echoes else None)} "
                    f"{r['lost']:>4} | {ms(r['freeze'])} | {ms(e['esc_cut'])} "
                    f"{ms(e['esc_still']):>9}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
