"""A profile with two sessions and memories of every kind, fixed ids and times."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from chatmem import protocol as p
from chatmem.config import Settings
from chatmem.domain.memories import make_memory
from chatmem.domain.tokens import TokenCounter
from chatmem.store.profile import Profile
from tests.harness import FIXED_TIME

DAY = 86400.0
T0 = FIXED_TIME - 30 * DAY


def seed(settings: Settings) -> None:
    with Profile.open(Path(settings.data_dir), settings.profile) as profile:
        sessions = profile.sessions
        sessions.create(T0, "Lisbon plans", session_id="s-lisbon")
        counter = TokenCounter("gpt-4o-mini")

        def said(message_id: str, role: str, text: str, at: float) -> p.ChatMessage:
            return p.ChatMessage(message_id, role, text, at, counter.count_message(text))

        sessions.extend(
            "s-lisbon",
            [
                said("u1", "user", "My sister Anna lives in Lisbon.", T0),
                said("a1", "assistant", "Lisbon is lovely. Does Anna paint?", T0 + 5),
                said("u2", "user", "Yes, landscapes. Her show opens on 3 October.", T0 + 60),
                said("a2", "assistant", "I will remember the opening.", T0 + 65),
            ],
        )
        sessions.create(T0 + DAY, "Beekeeping", session_id="s-bees")
        sessions.extend(
            "s-bees",
            [
                said("u3", "user", "My bees swarmed twice this spring.", T0 + DAY),
                said("a3", "assistant", "Twice! Did you catch the swarm?", T0 + DAY + 5),
            ],
        )
        anna = make_memory(
            "person",
            {"name": "Anna", "relation": "sister", "details": "lives in Porto"},
            T0,
            "s-lisbon",
            ("u1",),
            memory_id="m-anna",
        )
        anna = anna.revised({"details": "lives in Lisbon, paints landscapes"}, T0 + 30, "user")
        memories = [
            make_memory(
                "person",
                {"name": "Assistant", "relation": "self", "personality": "warm, candid"},
                T0 - DAY,
                memory_id="m-self",
            ),
            anna,
            make_memory(
                "event",
                {"note": "Anna's exhibition opens", "dates": ["2026-10-03"]},
                T0 + 60,
                "s-lisbon",
                ("u2",),
                memory_id="m-show",
            ),
            make_memory(
                "fact", {"note": "I keep bees", "source": "the user"}, T0 + DAY, memory_id="m-bees"
            ),
            replace(
                make_memory(
                    "fact", {"note": "I live in Berlin"}, T0 + 2 * DAY, memory_id="m-berlin"
                ),
                superseded_by="m-madrid",
            ),
            make_memory("fact", {"note": "I live in Madrid"}, T0 + 3 * DAY, memory_id="m-madrid"),
            make_memory(
                "conversation",
                {
                    "summary": "Talked about Anna's move to Lisbon and her show.",
                    "session_id": "s-lisbon",
                },
                T0 + 70,
                "s-lisbon",
                memory_id="m-journal",
            ),
            make_memory(
                "conversation",
                {"summary": "The user's bees swarmed twice this spring.", "session_id": "s-bees"},
                T0 + DAY + 10,
                "s-bees",
                memory_id="m-journal-bees",
            ),
        ]
        for memory in memories:
            profile.memories.put(memory)
        sessions.flush()
