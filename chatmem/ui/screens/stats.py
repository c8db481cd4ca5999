"""F8: tokens used per day as a column chart, and memories by type as bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from chatmem import protocol as p
from chatmem.ui.messages import WorkerEvent
from chatmem.ui.widgets.footer import Footer

if TYPE_CHECKING:
    from chatmem.ui.api import AppAPI

BAR = 48
HEIGHT = 8  # rows of the tokens-per-day chart
EIGHTHS = " ▁▂▃▄▅▆▇█"
GROUPS = {
    "self": "Self",
    "person": "People",
    "event": "Events",
    "fact": "Facts",
    "conversation": "Conversations",
}


def columns(values: list[int], height: int = HEIGHT) -> list[str]:
    """A column chart, top row first, one column (and a gap) per value; any value above
    zero shows at least a sliver."""
    top = max(values, default=0) or 1
    levels = [max(round(v / top * height * 8), 1 if v else 0) for v in values]
    return [
        " ".join(EIGHTHS[min(max(n - row * 8, 0), 8)] for n in levels)
        for row in range(height - 1, -1, -1)
    ]


def bars(rows: list[tuple[str, int]], colour: str, width: int = BAR) -> list[str]:
    top = max((n for _, n in rows), default=0) or 1
    label = max(len(name) for name, _ in rows) if rows else 0
    lines = []
    for name, n in rows:
        filled = round(n / top * width)
        bar = "█" * filled if filled or not n else "▏"
        lines.append(f"{name:<{label}}  [{colour}]{bar}[/] {n:,}")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def _short(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:,}"


def day_chart(days: list[tuple[str, int]]) -> list[str]:
    """Tokens per day as columns, the peak on the axis, the first and last day below."""
    values = [n for _, n in days]
    peak = max(values, default=0)
    axis = len(_short(peak))
    chart = columns(values)
    lines = [
        f"[dim]{(_short(peak) if i == 0 else '0' if i == len(chart) - 1 else ''):>{axis}}[/dim] "
        f"[$accent]{row}[/]"
        for i, row in enumerate(chart)
    ]
    if days:
        first, last = days[0][0][5:], days[-1][0][5:]  # MM-DD
        gap = max(2 * len(days) - 1 - len(first) - len(last), 1)
        lines.append(f"{'':>{axis}} [dim]{first}{'':{gap}}{last}[/dim]")
    return lines


def stats_text(stats: p.Stats) -> str:
    values = [n for _, n in stats.days]
    busy = max(stats.days, key=lambda d: d[1], default=("", 0))
    active = sum(1 for n in values if n)
    summary = f"last {len(values)} days · {sum(values):,} in all"
    if busy[1]:
        summary += f" · most on {busy[0][5:]} ({busy[1]:,}) · {_count(active, 'active day')}"
    lines = [
        f"[b]Tokens per day[/b]  [dim]{summary}[/dim]",
        *day_chart(list(stats.days)),
        "",
        f"[b]Memories by type[/b]  [dim]{sum(n for _, n in stats.memories):,} live[/dim]",
        *bars([(GROUPS[g], n) for g, n in stats.memories], "$primary"),
        "",
        f"[dim]{_count(stats.sessions, 'conversation')} · "
        f"{_count(stats.messages, 'message')}[/dim]",
    ]
    return "\n".join(lines)


class StatsScreen(Screen):
    if TYPE_CHECKING:
        app = getters.app(AppAPI)

    BINDINGS = [Binding("escape,f8", "app.pop_screen", "Back to chat", id="stats.close")]

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with VerticalScroll(id="stats"):
            yield Static("[dim]Counting…[/dim]", id="stats-body")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Stats"

    def on_screen_resume(self) -> None:
        """Shown (again): counted anew."""
        self.app.send(p.GetStats())

    def on_worker_event(self, message: WorkerEvent) -> None:
        if isinstance(message.event, p.Stats):
            self.query_one("#stats-body", Static).update(stats_text(message.event))
