"""F8: tokens used per day and memories by type, drawn as bars."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from chatmem import protocol as p

BAR = 48
GROUPS = {
    "self": "Self",
    "person": "People",
    "event": "Events",
    "fact": "Facts",
    "conversation": "Conversations",
}


def bars(rows: list[tuple[str, int]], colour: str, width: int = BAR) -> list[str]:
    top = max((n for _, n in rows), default=0) or 1
    label = max(len(name) for name, _ in rows) if rows else 0
    lines = []
    for name, n in rows:
        filled = round(n / top * width)
        bar = "█" * filled if filled or not n else "▏"
        lines.append(f"{name:<{label}}  [{colour}]{bar}[/] {n:,}")
    return lines


def stats_text(stats: p.Stats) -> str:
    total = sum(n for _, n in stats.days)
    days = [(day[5:], n) for day, n in stats.days]  # MM-DD
    lines = [
        f"[b]Tokens per day[/b]  [dim]last {len(days)} days · {total:,} in all[/dim]",
        *bars(days, "$accent"),
        "",
        f"[b]Memories by type[/b]  [dim]{sum(n for _, n in stats.memories):,} live[/dim]",
        *bars([(GROUPS[g], n) for g, n in stats.memories], "$primary"),
        "",
        f"[dim]{stats.sessions:,} conversations · {stats.messages:,} messages[/dim]",
    ]
    return "\n".join(lines)


class StatsScreen(Screen):
    BINDINGS = [Binding("escape,f8", "app.pop_screen", "Back to chat", id="stats.close")]

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with VerticalScroll(id="stats"):
            yield Static("[dim]Counting…[/dim]", id="stats-body")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Stats"

    def show(self, stats: p.Stats) -> None:
        self.query_one("#stats-body", Static).update(stats_text(stats))
