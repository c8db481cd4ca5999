"""A burst typed the instant chatmem starts, in a real pseudo-terminal: nothing of it is lost.

The keys reach the terminal before the app has painted, while the worker is still booting;
Enter must run exactly the text that was typed. What was stored is read back afterwards with
the headless command line, as a user would.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = "My sister Alice lives in Lisbon and works as a nurse"
NEXT = "hello there"


def environment(fake_url: str) -> dict[str, str]:
    return {
        **os.environ,  # the isolated home's XDG dirs
        "PYTHONPATH": str(ROOT),
        "TERM": "xterm-256color",
        "COLUMNS": "100",  # the pty's size, not the size of whatever ran the tests
        "LINES": "30",
        "OPENAI_BASE_URL": fake_url,
        "OPENAI_API_KEY": "sk-test",
        "CHATMEM_MODEL": "gpt-4o-mini",
        "CHATMEM_OLLAMA_URL": "http://127.0.0.1:9",
    }


def run_until(master: int, proc: subprocess.Popen, seen: bytes, marker: bytes, timeout: float):
    """Read the screen until ``marker`` shows (or the app ends); what was read."""
    end = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < end and proc.poll() is None:
        if select.select([master], [], [], 0.05)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
    return seen


def test_a_command_typed_at_once_after_launch_runs_whole_and_what_follows_is_sent(fake_openai):
    env = environment(fake_openai.url)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatmem", "--new"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        # one burst, before the first frame: the next message is typed before the command ran
        os.write(master, f"/remember {TEXT}\r{NEXT}\r".encode())
        seen = run_until(master, proc, b"", b"Remembered", 60)
        assert b"Remembered" in seen, "no memory was stored within 60 s"
        seen = run_until(master, proc, seen, NEXT.encode(), 30)
        os.write(master, b"\x11")  # Ctrl+Q
        run_until(master, proc, seen, b"\0never", 10)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    listed = json.loads(cli(env, "memories", "list", "--json"))
    assert [m["fields"].get("note") for m in listed if m["kind"] == "fact"] == [TEXT]
    latest = json.loads(cli(env, "sessions", "list", "--json"))[0]["id"]
    shown = cli(env, "sessions", "show", latest)
    assert NEXT in shown and TEXT not in shown  # sent alone, as typed


def cli(env: dict[str, str], *args: str) -> str:
    """What a headless chatmem command prints."""
    done = subprocess.run(
        [sys.executable, "-m", "chatmem", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
