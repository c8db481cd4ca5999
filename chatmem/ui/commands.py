"""Every action of the app, once: its key (the binding id the keymap remaps), its palette
title, its slash command. Bindings, the command palette, slash completion and the help
screen are all made from this table."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class Command:
    id: str  # the binding id: ``[keymap]`` in the config remaps it
    key: str
    action: str  # an action of the app
    title: str
    help: str
    slash: str = ""
    arg: str = ""  # what the slash command takes: "TEXT", "[NAME]" (optional)…
    footer: bool = True

    @property
    def needs_arg(self) -> bool:
        return bool(self.arg) and not self.arg.startswith("[")


COMMANDS: tuple[Command, ...] = (
    Command("help", "f1", "help", "Help", "Every key and command, and chatmem's files", "/help"),
    Command("settings", "f2", "settings", "Settings", "Server, API key and model", "/settings"),
    Command(
        "memories", "f3", "memories", "Memories", "Browse and edit what is remembered", "/memories"
    ),
    Command(
        "undo_memory",
        "f4",
        "undo_memory",
        "Undo memory",
        "Take back the last memory change",
        "/undo",
        footer=False,
    ),
    Command(
        "sessions", "f5", "sessions", "Sessions", "Every conversation: search, open", "/sessions"
    ),
    Command("stats", "f8", "stats", "Stats", "Tokens per day, memories by type", "/stats"),
    Command(
        "new_session",
        "ctrl+n",
        "new_session",
        "New",
        "Start a new conversation (this one gets its journal entry)",
        "/new",
    ),
    Command(
        "model", "ctrl+o", "model", "Model", "Switch model (the server's list)", "/model", "[NAME]"
    ),
    Command("theme", "ctrl+t", "theme", "Theme", "Switch theme", "/theme", "[NAME]"),
    Command(
        "export",
        "ctrl+s",
        "export",
        "Export",
        "Save this conversation as Markdown (or JSON)",
        "/export",
        "[PATH]",
    ),
    Command("copy", "ctrl+l", "copy", "Copy", "Copy a message or a code block", "/copy"),
    Command(
        "remember",
        "ctrl+g",
        "remember",
        "Remember",
        "Store a memory as you say it",
        "/remember",
        "TEXT",
        footer=False,
    ),
    Command(
        "forget",
        "ctrl+f",
        "forget",
        "Forget",
        "Delete the memory with this id, or the best match",
        "/forget",
        "TEXT",
        footer=False,
    ),
    Command("quit", "ctrl+q", "quit", "Quit", "Quit (everything is already saved)", "/quit"),
)
BY_SLASH = {c.slash: c for c in COMMANDS if c.slash}
BY_SLASH["/bye"] = BY_SLASH["/new"]  # the prototype's way to end a session
SAFEWORDS = {"bye", "goodbye", "-esc", "esc", "terminate"}  # typed alone: /bye
EDITOR_KEYS = {  # the prompt's own keys: an app binding on one of them never fires in the chat
    "ctrl+a", "ctrl+e", "ctrl+w", "ctrl+d", "ctrl+x", "ctrl+c", "ctrl+v", "ctrl+u", "ctrl+k",
    "ctrl+z", "ctrl+y", "ctrl+j", "f6", "f7", "tab", "enter", "up", "down", "left", "right",
}  # fmt: skip


def app_bindings() -> list[BindingType]:
    return [
        Binding(c.key, c.action, c.title, show=c.footer, id=c.id, priority=c.id == "quit")
        for c in COMMANDS
    ]


@dataclass(frozen=True)
class Slash:
    """What a line typed in the prompt asks for."""

    command: Command | None  # None: not a command (send it), or an unknown one
    arg: str = ""
    unknown: str = ""  # the unknown command's name


def parse(text: str) -> Slash:
    """``/name arg``, a safeword alone, or a message (``//text`` sends "/text")."""
    stripped = text.strip()
    if stripped.lower() in SAFEWORDS:
        return Slash(BY_SLASH["/bye"])
    if not stripped.startswith("/") or stripped.startswith("//"):
        return Slash(None)
    name, _, arg = stripped.partition(" ")
    command = BY_SLASH.get(name.lower())
    if command is None:
        return Slash(None, unknown=name)
    return Slash(command, arg.strip())


def completions(text: str) -> list[tuple[str, Command]]:
    """Slash commands starting with what is typed (only while it is one word after '/')."""
    if not text.startswith("/") or any(ch.isspace() for ch in text):
        return []
    typed = text.lower()
    return [(name, c) for name, c in BY_SLASH.items() if name.startswith(typed)]
