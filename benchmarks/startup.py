"""Time from launch until the prompt accepts keys: chatmem next to a bare Textual app.

Each app runs in a pseudo-terminal; a marker character is typed every few milliseconds
from the moment the process starts, and the clock stops when the app paints it. The floors
are a bare Textual app with one focused TextArea (the prompt's widget) and one with a
header, an Input and a footer; all apps are measured alternately in the same run. Prints
the medians and the ratios (target <= 1.25), and the CPU time the app's process had used
by then (all its threads; chatmem's worker process apart): a figure the load of a shared
machine does not inflate.

Every app runs from bytecode caches, as an installed one does: a first run of each writes
them (even with PYTHONDONTWRITEBYTECODE set, which would have chatmem compiled at each start).

Then the headless command line: ``chatmem memories list`` on a profile of 1,000 memories,
launch to exit, next to ``python -c pass``. Last, the first reply: launch, with a message
and Enter typed at once, until the first words of the reply (a fake server's, answering at
once) are on the screen: the worker's start-up is on this path, not on the echo's.

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import contextlib
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
from typing import NamedTuple

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


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by process ``pid``, all its threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):  # the thread ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def children(pid: int) -> list[int]:
    """The processes ``pid`` started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Echo(NamedTuple):
    """One launch: seconds to the echo, CPU seconds of the app's process and its children."""

    seconds: float
    cpu: float
    children_cpu: float


def time_to_echo(argv: list[str], env: dict[str, str]) -> Echo:
    """Seconds from spawn until MARK, typed into the terminal every 20 ms, shows on the
    screen; with the CPU time used by then."""
    return launch(argv, env, MARK, MARK, every=0.02)


def launch(
    argv: list[str],
    env: dict[str, str],
    keys: str,
    marker: str,
    every: float = 0.0,
    timeout: float = 30.0,
) -> Echo:
    """Spawn ``argv`` in a pseudo-terminal and type ``keys`` at once (again ``every`` seconds,
    if given); the time until ``marker`` shows on the screen."""
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
    mark = marker.encode()
    next_key: float | None = start
    try:
        while time.perf_counter() - start < timeout:
            now = time.perf_counter()
            if next_key is not None and now >= next_key:
                os.write(master, keys.encode())
                next_key = now + every if every else None
            ready, _, _ = select.select([master], [], [], 0.005)
            if ready:
                try:
                    seen = (seen + os.read(master, 65536))[-4096:]
                except OSError:
                    break
                if mark in seen:
                    seconds = time.perf_counter() - start
                    kids = sum(cpu_seconds(pid) for pid in children(proc.pid))
                    return Echo(seconds, cpu_seconds(proc.pid), kids)
        raise RuntimeError(f"{argv} never showed {marker!r}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)


def first_reply(env: dict[str, str], runs: int) -> list[float]:
    """Seconds from launching chatmem, with a message and Enter typed at once, until the
    first words of the reply (from a fake server answering at once) are on the screen."""
    from tests.fake_openai import FakeOpenAI

    argv = [sys.executable, "-m", "chatmem", "--new"]
    with FakeOpenAI() as server:
        env = {**env, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-bench"}
        env["CHATMEM_MODEL"] = "gpt-4o-mini"
        launch(argv, env, "hello there\r", "Echo: hello")  # caches (tiktoken's too)
        return [launch(argv, env, "hello there\r", "Echo: hello").seconds for _ in range(runs)]


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


def report_cpu(echoes: dict[str, list[Echo]]) -> dict[str, float]:
    """The medians of the CPU time used until the echo."""
    med = {}
    for name, runs in echoes.items():
        med[name] = statistics.median(e.cpu for e in runs)
        line = f"{name:<24} CPU to echo median {med[name] * 1000:7.1f} ms"
        if any(e.children_cpu for e in runs):
            kids = statistics.median(e.children_cpu for e in runs)
            line += f"   (its worker process meanwhile: {kids * 1000:.1f} ms)"
        print(line)
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
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # without caches, chatmem would compile itself
        bare_input, bare_textarea = Path(tmp) / "bare_input.py", Path(tmp) / "bare_textarea.py"
        bare_input.write_text(BARE_INPUT)
        bare_textarea.write_text(BARE_TEXTAREA)
        apps = {
            "bare textual TextArea": [sys.executable, str(bare_textarea)],
            "bare textual Input": [sys.executable, str(bare_input)],
            "chatmem": [sys.executable, "-m", "chatmem", "--new"],
        }
        echoes: dict[str, list[Echo]] = {name: [] for name in apps}
        package = Path(__file__).resolve().parent.parent / "chatmem"
        compile_all = [sys.executable, "-m", "compileall", "-q", str(package)]
        subprocess.run(compile_all, env=env, check=True)
        for argv in apps.values():  # warm the bytecode caches once
            time_to_echo(argv, env)
        for _ in range(args.runs):
            for name, argv in apps.items():
                echoes[name].append(time_to_echo(argv, env))

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
        replies = first_reply(env, args.runs)
    med = report({name: [e.seconds for e in runs] for name, runs in echoes.items()})
    for bare in ("bare textual TextArea", "bare textual Input"):
        print(f"ratio chatmem/{bare} = {med['chatmem'] / med[bare]:.2f} (target <= 1.25)")
    print()
    cpu = report_cpu(echoes)
    for bare in ("bare textual TextArea", "bare textual Input"):
        print(f"CPU ratio chatmem/{bare} = {cpu['chatmem'] / cpu[bare]:.2f}")
    print()
    med = report(exits)
    extra = med["chatmem memories list"] - med["python -c pass"]
    print(f"chatmem memories list (1,000 memories): {extra * 1000:.1f} ms over python -c pass")
    print()
    report({"chatmem first reply": replies})


if __name__ == "__main__":
    main()
