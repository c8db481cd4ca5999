"""Turn-level retrieval on LoCoMo: the app's recall next to a plain BM25 over single turns.

Each conversation is ingested session by session through the app's own session store and
recall index (no LLM: every session is stored as a dated transcript, as the app stores a
real one). For each question of categories 1-4 the app ranks earlier messages; we count
the evidence turns among the top k (turn recall@k), the evidence turns the default memory
budget would put in the prompt, and the evidence sessions among the top 5 sessions.
The baseline is rank-bm25's BM25Okapi over single turns with the speaker's name prepended
(lower-cased word tokens, English stop words removed), computed in the same run.

    python benchmarks/retrieval_locomo.py --data ../shared/bench/locomo/locomo_dev.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rank_bm25 import BM25Okapi

from chatmem.memory.index import words
from chatmem.memory.recall import Recall
from chatmem.protocol import ChatMessage
from chatmem.store.sessions import SessionStore
from chatmem.tokens import TokenCounter

KS = (5, 10, 20)
BUDGET = 2000
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_ID = re.compile(r"D(\d+):(\d+)")


def session_time(text: str) -> float:
    return dt.datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").timestamp()


def evidence_ids(raw: list[str], known: set[str]) -> set[str]:
    """Clean ids like "D8:6; D9:17", "D:11:26", "D30:05"; keep those that exist."""
    out = set()
    for item in raw:
        for s, t in _ID.findall(item.replace("D:", "D")):
            dia = f"D{int(s)}:{int(t)}"
            if dia in known:
                out.add(dia)
    return out


def sessions_of(conv: dict) -> list[tuple[int, float, list[dict]]]:
    numbers = sorted(int(k.split("_")[1]) for k in conv if re.fullmatch(r"session_\d+", k))
    return [
        (n, session_time(conv[f"session_{n}_date_time"]), conv[f"session_{n}"]) for n in numbers
    ]


def run(sample: dict, tmp: Path, counter: TokenCounter) -> list[dict]:
    conv = sample["conversation"]
    user = conv["speaker_a"]
    store = SessionStore(tmp / sample["sample_id"], [])
    recall = Recall()
    turn_session: dict[str, int] = {}
    texts: list[str] = []
    dia_ids: list[str] = []
    for number, when, turns in sessions_of(conv):
        session = store.create(when)
        for i, turn in enumerate(turns):
            text = turn["text"] + (
                f" [shares {turn['blip_caption']}]" if turn.get("blip_caption") else ""
            )
            role = "user" if turn["speaker"] == user else "assistant"
            message = ChatMessage(turn["dia_id"], role, text, when + i)
            store.append(session.id, message)
            recall.add_turn(session.id, message, speaker=turn["speaker"])
            turn_session[turn["dia_id"]] = number
            texts.append(f"{turn['speaker']} {text}")
            dia_ids.append(turn["dia_id"])
    store.close()
    bm25 = BM25Okapi([words(t) or ["∅"] for t in texts])
    known = set(dia_ids)
    rows = []
    for qa in sample["qa"]:
        if qa.get("category") not in CATEGORIES:
            continue
        evidence = evidence_ids(qa.get("evidence", []), known)
        if not evidence:
            continue
        question = qa["question"]
        app = [turn.id for turn, _ in recall.rank_turns(question)]
        scores = bm25.get_scores(words(question) or ["∅"])
        base = [dia_ids[i] for i in sorted(range(len(scores)), key=lambda i: -scores[i])]
        built = recall.build(question, {}, counter, BUDGET, 0.0)
        in_prompt = {item.id for item in built.items if item.kind == "message"}
        sessions: list[int] = []
        for turn_id in app:
            if turn_session[turn_id] not in sessions:
                sessions.append(turn_session[turn_id])
        base_sessions: list[int] = []
        for turn_id in base:
            if turn_session[turn_id] not in base_sessions:
                base_sessions.append(turn_session[turn_id])
        ev_sessions = {turn_session[e] for e in evidence}
        row = {"category": qa["category"], "prompt_tokens": built.tokens}
        for k in KS:
            row[f"app@{k}"] = len(evidence & set(app[:k])) / len(evidence)
            row[f"bm25@{k}"] = len(evidence & set(base[:k])) / len(evidence)
        row["app_budget"] = len(evidence & in_prompt) / len(evidence)
        row["app_sess@5"] = len(ev_sessions & set(sessions[:5])) / len(ev_sessions)
        row["bm25_sess@5"] = len(ev_sessions & set(base_sessions[:5])) / len(ev_sessions)
        rows.append(row)
    return rows


def mean(rows: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in rows) if rows else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data",
        default=str(Path(__file__).resolve().parents[2] / "shared/bench/locomo/locomo_dev.json"),
    )
    args = ap.parse_args()
    samples = json.loads(Path(args.data).read_text())
    counter = TokenCounter("gpt-4o-mini")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for sample in samples:
            rows += run(sample, Path(tmp), counter)
    groups = defaultdict(list)
    for r in rows:
        groups[CATEGORIES[r["category"]]].append(r)
    print(f"{len(samples)} conversations, {len(rows)} questions (categories 1-4)")
    header = (
        "                  "
        + "  ".join(f"R@{k:<2} app/bm25" for k in KS)
        + "  in-budget  sess@5 app/bm25"
    )
    print(header)
    for name, group in [("all", rows), *sorted(groups.items())]:
        cells = "  ".join(
            f"{mean(group, f'app@{k}'):.3f}/{mean(group, f'bm25@{k}'):.3f}" for k in KS
        )
        print(
            f"{name:<14}({len(group):>4})  {cells}   {mean(group, 'app_budget'):.3f}     "
            f"{mean(group, 'app_sess@5'):.3f}/{mean(group, 'bm25_sess@5'):.3f}"
        )
    spent = statistics.median(r["prompt_tokens"] for r in rows)
    print(f"prompt tokens spent by recall per question: median {spent:.0f}")
    app10, base10 = mean(rows, "app@10"), mean(rows, "bm25@10")
    print(f"turn_R@10 app={app10:.3f} bm25={base10:.3f} ratio={app10 / base10:.3f}")


if __name__ == "__main__":
    main()
