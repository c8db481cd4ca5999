"""Time from launch until the prompt accepts keys: chatmem next to a bare Textual app.

Each app runs in a pseudo-terminal; a marker character is typed every few milliseconds
from the moment the process starts, and the clock stops when the app paints it. The floors
are a bare Textual app with one focused TextArea (the prompt's widget) and one with a
header, an Input and a footer; all apps are measured alternately in the same run. Prints
the medians and the ratios (target <= 1.25).

Then the headless command line: ``chatmem memories list`` on a profile of 1,000 memories,
launch to exit, next to ``python -c pass``.

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
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

MARK = "ζ"
BARE_INPUT = """
from textual.app import App
from textual.widgets import Footer, Header, Input

class Bare(App):
    def compose(self):
        yield Header()
        yield Input(placeholder="Message")
        yield Footer()

Bare().run()
"""
BARE_TEXTAREA = """
from textual.app import App
from textual.widgets import TextArea

class Bare(App):
    def compose(self):
        yield TextArea()

Bare().run()
"""


def isolated_env(tmp: str) -> dict[str, str]:
    """The environment with chatmem's files under ``tmp`` and a model server nobody answers."""
    return {
        **os.environ,
        "XDG_CONFIG_HOME": f"{tmp}/config",
        "XDG_DATA_HOME": f"{tmp}/data",
        "XDG_STATE_HOME": f"{tmp}/state",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "CHATMEM_MODEL": "test-model",
        "CHATMEM_OLLAMA_URL": "http://127.0.0.1:9",
    }


def time_to_echo(argv: list[str], env: dict[str, str], timeout: float = 30.0) -> float:
    """Seconds from spawn until MARK, typed into the terminal, shows on the screen."""
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO  # only the app may draw the key, not the terminal's own echo
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    os.set_blocking(master, False)
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    seen = b""
    mark = MARK.encode()
    next_key = start
    try:
        while time.perf_counter() - start < timeout:
            now = time.perf_counter()
            if now >= next_key:
                os.write(master, mark)
                next_key = now + 0.02
            ready, _, _ = select.select([master], [], [], 0.005)
            if ready:
                try:
                    seen = (seen + os.read(master, 65536))[-4096:]
                except OSError:
                    break
                if mark in seen:
                    return time.perf_counter() - start
        raise RuntimeError(f"{argv} never echoed the key")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)


def time_to_exit(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn until the process has exited (its output thrown away)."""
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def seed_memories(data_dir: Path, count: int) -> None:
    from chatmem.domain.memories import make_memory
    from chatmem.store.profile import Profile

    now = time.time()
    with Profile.open(data_dir, "default") as profile:
        profile.memories.put_many(
            [make_memory("fact", {"note": f"fact number {i}"}, now - i) for i in range(count)]
        )


def report(times: dict[str, list[float]]) -> dict[str, float]:
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name:<24} median {med[name] * 1000:7.1f} ms   min {min(t) * 1000:7.1f} ms")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **isolated_env(tmp),
            "TERM": "xterm-256color",
            "COLUMNS": "100",
            "LINES": "30",
        }
        bare_input, bare_textarea = Path(tmp) / "bare_input.py", Path(tmp) / "bare_textarea.py"
        bare_input.write_text(BARE_INPUT)
        bare_textarea.write_text(BARE_TEXTAREA)
        apps = {
            "bare textual TextArea": [sys.executable, str(bare_textarea)],
            "bare textual Input": [sys.executable, str(bare_input)],
            "chatmem": [sys.executable, "-m", "chatmem", "--new"],
        }
        times: dict[str, list[float]] = {name: [] for name in apps}
        for argv in apps.values():  # warm the bytecode caches once
            time_to_echo(argv, env)
        for _ in range(args.runs):
            for name, argv in apps.items():
                times[name].append(time_to_echo(argv, env))

        seed_memories(Path(tmp) / "data" / "chatmem", 1000)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "chatmem memories list": [sys.executable, "-m", "chatmem", "memories", "list"],
        }
        exits: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():  # warm the bytecode caches once
            time_to_exit(argv, env)
        for _ in range(args.runs):
            for name, argv in commands.items():
                exits[name].append(time_to_exit(argv, env))
    med = report(times)
    for bare in ("bare textual TextArea", "bare textual Input"):
        print(f"ratio chatmem/{bare} = {med['chatmem'] / med[bare]:.2f} (target <= 1.25)")
    print()
    med = report(exits)
    extra = med["chatmem memories list"] - med["python -c pass"]
    print(f"chatmem memories list (1,000 memories): {extra * 1000:.1f} ms over python -c pass")


if __name__ == "__main__":
    main()
