"""The token-usage sidebar: context against the window, turn and session totals, cost."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.widgets import Sparkline

    from chatmem.protocol import RecallUsed, Usage

GAUGE_WIDTH = 24
_PLAIN_ID = re.compile(r"[\w-]+")  # an id safe to put in a click action


def gauge(used: int, window: int, width: int = GAUGE_WIDTH) -> str:
    """A bar coloured by how full the window is."""
    share = min(used / window, 1.0) if window else 0.0
    filled = round(share * width)
    colour = "$success" if share < 0.6 else "$warning" if share < 0.85 else "$error"
    return f"[{colour}]{'█' * filled}[/][dim]{'░' * (width - filled)}[/] {share:>4.0%}"


def money(usd: float) -> str:
    if usd == 0:
        return "$0"
    return "< $0.0001" if usd < 0.0001 else f"${usd:,.4f}"


_HOW_COUNTED = {  # Usage.counting: "tiktoken" (the model's own encoding) says nothing
    "server": " (exact)",  # the server's tokenizer counted it
    "calibrated": " (calibrated)",  # an estimate scaled by the server's usage
    "estimate": " (estimated)",
}


def usage_text(u: Usage) -> Content:
    approx = "≈" if u.estimated else ""
    window = f"{u.context_window:,}" + (" [i](assumed)[/i]" if u.window_assumed else "")
    cost = "price unknown" if u.session_cost is None else money(u.session_cost)
    lines = [
        "[b]Model[/b]",
        "$model" if u.model else "[i]none set[/i]",
        "",
        f"[b]Context{_HOW_COUNTED.get(u.counting, ' (estimated)' if u.estimated else '')}[/b]",
        gauge(u.context_tokens, u.context_window),
        f"{approx}{u.context_tokens:,} / {window}",
        f"[dim]{u.verbatim_messages:,} messages · memory {approx}{u.memory_tokens:,}[/dim]",
        *(
            [f"[dim]summary {approx}{u.summary_tokens:,} (of {u.summarized_messages:,})[/dim]"]
            if u.summarized_messages
            else []
        ),
        "",
        "[b]Last turn[/b]",
        f"prompt  {approx}{u.last_prompt:,}",
        f"reply   {approx}{u.last_completion:,}",
        "",
        "[b]This session[/b]",
        f"prompt  {approx}{u.session_prompt:,}",
        f"reply   {approx}{u.session_completion:,}",
        f"cost    {cost}",
    ]
    return Content.from_markup("\n".join(lines), model=u.model)


def recall_text(event: RecallUsed, limit: int = 8) -> Content:
    lines = [
        Content.from_markup(f"[b]Memory in the request[/b]  {event.tokens:,}"),
        Content.styled(f"matched by {'words and meaning' if event.semantic else 'words'}", "dim"),
    ]
    for item in event.items[:limit]:
        title = Content(_short(item.title))
        if item.kind != "message" and _PLAIN_ID.fullmatch(item.id):  # a click opens it
            title = title.stylize(f"@click=app.memories('{item.id}')")
        lines.append(Content.assemble((f"{item.tokens:>4}", "dim"), f" {item.kind[:4]} ", title))
    if len(event.items) > limit:
        lines.append(Content.styled(f"… and {len(event.items) - limit} more", "dim"))
    return Content("\n").join(lines)


class Sidebar(Vertical):
    """Mounted after the first frame: the sparkline (and the statistics module it imports)
    is imported then."""

    def compose(self) -> ComposeResult:
        from textual.widgets import Sparkline

        yield Static("[dim]Starting…[/dim]", id="usage")
        yield Static("", id="spark-label")
        yield Sparkline([], id="spark", summary_function=max)
        yield Static("", id="recall")

    def show(self, usage: Usage) -> None:
        self.query_one("#usage", Static).update(usage_text(usage))
        turns = list(usage.turn_tokens)
        label = self.query_one("#spark-label", Static)
        spark = cast("Sparkline", self.query_one("#spark"))
        label.display = spark.display = len(turns) > 1
        if len(turns) > 1:
            top = max(turns)
            label.update(f"[b]Tokens per turn[/b]  [dim]top {top:,}[/dim]")
            spark.data = turns

    def show_recall(self, event: RecallUsed) -> None:
        self.query_one("#recall", Static).update(recall_text(event))


def _short(title: str, width: int = 20) -> str:
    return title if len(title) <= width else title[: width - 1] + "…"
