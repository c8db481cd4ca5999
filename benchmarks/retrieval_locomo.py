"""Turn-level retrieval on LoCoMo: the app's recall next to plain BM25 and dense-only search.

Each conversation is ingested session by session through the app's own session store and
recall index (no LLM: every session is stored as a dated transcript, as the app stores a
real one). For each question of categories 1-4 we count the evidence turns among the top k
(turn recall@k), the evidence turns the default memory budget puts in the prompt (in-prompt),
and the evidence sessions among the top 5 sessions, for three systems:

- bm25: rank-bm25's BM25Okapi over single turns with the speaker's name prepended (lower-cased
  word tokens, English stop words removed, no stemming), computed in the same run;
- dense: cosine over the same vectors the app has (``--embeddings-url``), nothing else;
- app: the worker's own recall (``Recall.rank_turns`` and ``Recall.build``, blend and relevance
  floors included), with those vectors kept and searched by the worker's ``Embeddings``.

Embeddings of the corpus are cached under ~/.cache/chatmem-bench (benchmarks/embedcache.py):
the first run embeds ~5k texts (a few minutes of CPU), later ones none. Without
``--embeddings-url`` recall is lexical, as in the app without an embeddings model, and the
app's lexical recall is also shown with the former hand-written stemmer (Snowball's effect).
The app's indexes are on disk as the worker keeps them (``--in-memory``: in memory).

    python benchmarks/retrieval_locomo.py [--embeddings-url http://127.0.0.1:PORT/v1]
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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from rank_bm25 import BM25Okapi

from benchmarks.embedcache import EmbeddingCache
from chatmem.domain import index as index_module
from chatmem.domain.index import words
from chatmem.domain.recall import Recall
from chatmem.domain.tokens import TokenCounter
from chatmem.protocol import ChatMessage
from chatmem.services.embeddings import Embeddings
from chatmem.store.search_index import SearchIndex
from chatmem.store.sessions import SessionStore

KS = (5, 10, 20)
BUDGET = 2000  # the default memory budget
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
SYSTEMS = ("bm25", "dense", "app")
_ID = re.compile(r"D(\d+):(\d+)")


def default_data() -> str:
    """``shared/bench/locomo/locomo_dev.json`` next to the checkout or one of its parents."""
    for parent in Path(__file__).resolve().parents:
        found = parent / "shared/bench/locomo/locomo_dev.json"
        if found.exists():
            return str(found)
    return "locomo_dev.json"


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


def light_stem(word: str) -> str:
    """The stemmer chatmem had before Snowball, kept here to show the difference."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + keep
    return word


class Conversation:
    """One LoCoMo sample ingested by the app, with the baseline BM25 over the same turns."""

    def __init__(self, sample: dict, tmp: Path, on_disk: bool) -> None:
        conv = sample["conversation"]
        user = conv["speaker_a"]
        store = SessionStore(tmp / sample["sample_id"], [])
        # The worker's index, on disk (each ingest its own: it is run twice without embeddings).
        self.index = SearchIndex(Path(tempfile.mkdtemp(dir=tmp))) if on_disk else None
        self.recall = Recall(self.index.memories, self.index.turns) if self.index else Recall()
        self.turn_session: dict[str, int] = {}
        texts: list[str] = []
        self.dia_ids: list[str] = []
        for number, when, turns in sessions_of(conv):
            session = store.create(when)
            for i, turn in enumerate(turns):
                text = turn["text"] + (
                    f" [shares {turn['blip_caption']}]" if turn.get("blip_caption") else ""
                )
                role = "user" if turn["speaker"] == user else "assistant"
                message = ChatMessage(turn["dia_id"], role, text, when + i)
                store.append(session.id, message)
                self.recall.add_turn(session.id, message, speaker=turn["speaker"])
                self.turn_session[turn["dia_id"]] = number
                texts.append(f"{turn['speaker']} {text}")
                self.dia_ids.append(turn["dia_id"])
        store.close()
        self.bm25 = BM25Okapi([words(t) or ["∅"] for t in texts])
        known = set(self.dia_ids)
        self.questions = [
            (qa["question"], qa["category"], evidence)
            for qa in sample["qa"]
            if qa.get("category") in CATEGORIES
            and (evidence := evidence_ids(qa.get("evidence", []), known))
        ]
        self.embeddings: Embeddings | None = None
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.query_vectors = np.zeros((0, 0), dtype=np.float32)

    def embed(self, cache: EmbeddingCache, tmp: Path) -> None:
        """The turns' vectors, kept by the worker's own ``Embeddings``; the questions'."""
        turns = list(self.recall.turns.values())
        vectors = cache.vectors([t.embedded() for t in turns])
        self.embeddings = Embeddings(tmp / f"vectors-{id(self)}", cache.model, [])
        self.embeddings.turns.keep([(t.id, t.embedded()) for t in turns], vectors.tolist())
        at = {dia_id: i for i, dia_id in enumerate(self.dia_ids)}
        self.matrix = np.zeros((len(self.dia_ids), vectors.shape[1]), dtype=np.float32)
        self.matrix[[at[t.id] for t in turns]] = vectors  # rows in dia_ids order
        self.query_vectors = cache.vectors([q for q, _, _ in self.questions])

    def rows(self, counter: TokenCounter) -> list[dict]:
        out = []
        for n, (question, category, evidence) in enumerate(self.questions):
            similar = None
            ranked: dict[str, list[str]] = {}
            if self.embeddings is not None:
                vector = self.query_vectors[n]
                similar = self.embeddings.near(vector)
                cosines = self.matrix @ vector
                ranked["dense"] = [self.dia_ids[i] for i in np.argsort(-cosines, kind="stable")]
            turns = similar.turns if similar is not None else None
            ranked["app"] = [turn.id for turn, _ in self.recall.rank_turns(question, "", turns)]
            scores = self.bm25.get_scores(words(question) or ["∅"])
            ranked["bm25"] = [self.dia_ids[i] for i in np.argsort(-scores, kind="stable")]
            built = self.recall.build(question, {}, counter, BUDGET, 0.0, "", similar)
            in_prompt = {item.id for item in built.items if item.kind == "message"}
            ev_sessions = {self.turn_session[e] for e in evidence}
            row = {"category": category, "prompt_tokens": built.tokens}
            row["app_in_prompt"] = len(evidence & in_prompt) / len(evidence)
            for system, order in ranked.items():
                for k in KS:
                    row[f"{system}@{k}"] = len(evidence & set(order[:k])) / len(evidence)
                sessions = list(dict.fromkeys(self.turn_session[t] for t in order))
                row[f"{system}_sess@5"] = len(ev_sessions & set(sessions[:5])) / len(ev_sessions)
            out.append(row)
        return out


def mean(rows: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in rows) if rows else 0.0


def report(rows: list[dict], systems: tuple[str, ...]) -> None:
    groups = defaultdict(list)
    for r in rows:
        groups[CATEGORIES[r["category"]]].append(r)
    print(f"{'':<20}{'system':<7}" + "".join(f"R@{k:<6}" for k in KS) + "sess@5  in-prompt")
    for name, group in [("all", rows), *sorted(groups.items())]:
        for i, system in enumerate(systems):
            label = f"{name} ({len(group)})" if not i else ""
            cells = "".join(f"{mean(group, f'{system}@{k}'):<8.3f}" for k in KS)
            sess = mean(group, f"{system}_sess@5")
            extra = f"{mean(group, 'app_in_prompt'):.3f}" if system == "app" else ""
            print(f"{label:<20}{system:<7}{cells}{sess:<8.3f}{extra}")
    spent = [r["prompt_tokens"] for r in rows]
    p95 = statistics.quantiles(spent, n=20)[-1]
    print(
        f"recalled section tokens per question: median {statistics.median(spent):.0f}, "
        f"p95 {p95:.0f}, max {max(spent)} (budget {BUDGET})"
    )


def with_stemmer(stem: Callable[[str], str], run: Callable[[], list[dict]]) -> list[dict]:
    """``run`` with the recall index's terms made by ``stem`` instead of Snowball."""
    original = index_module.terms
    index_module.terms = lambda text: [stem(w) for w in words(text)]
    try:
        return run()
    finally:
        index_module.terms = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=default_data())
    ap.add_argument("--embeddings-url", help="an OpenAI-shaped /v1 base URL; else lexical only")
    ap.add_argument("--model", default="all-minilm-l6-v2")
    ap.add_argument("--in-memory", action="store_true", help="recall's indexes in memory")
    args = ap.parse_args()
    samples = json.loads(Path(args.data).read_text())
    counter = TokenCounter("gpt-4o-mini")
    cache = EmbeddingCache(args.embeddings_url, args.model) if args.embeddings_url else None
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)

        def ingest(on_disk: bool) -> list[Conversation]:
            return [Conversation(sample, tmp / str(n), on_disk) for n, sample in enumerate(samples)]

        if cache is None:  # the former stemmer replaces the terms of the in-memory index
            former = with_stemmer(
                light_stem, lambda: [r for c in ingest(False) for r in c.rows(counter)]
            )
        conversations = ingest(not args.in_memory)
        if cache is not None:
            for conversation in conversations:
                conversation.embed(cache, tmp)
        rows = [r for c in conversations for r in c.rows(counter)]
        for conversation in conversations:
            if conversation.embeddings is not None:
                conversation.embeddings.close()
            if conversation.index is not None:
                conversation.index.close()
    systems = SYSTEMS if cache is not None else ("bm25", "app")
    questions = len(rows)
    what = f"embeddings {args.model}" if cache is not None else "lexical only (no embeddings)"
    print(f"{len(samples)} conversations, {questions} questions (categories 1-4); {what}")
    if cache is not None:
        print(f"texts embedded by this run: {cache.embedded} (the rest from {cache.folder})")
    report(rows, systems)
    if cache is None:
        print(
            "stemmer: app turn R@10 / R@20 / sess@5 with Snowball "
            f"{mean(rows, 'app@10'):.3f} / {mean(rows, 'app@20'):.3f} / "
            f"{mean(rows, 'app_sess@5'):.3f}, with the former light stemmer "
            f"{mean(former, 'app@10'):.3f} / {mean(former, 'app@20'):.3f} / "
            f"{mean(former, 'app_sess@5'):.3f}"
        )
    app10, bm10 = mean(rows, "app@10"), mean(rows, "bm25@10")
    dense10 = mean(rows, "dense@10") if cache is not None else None
    dense = f"{dense10:.3f}" if dense10 is not None else "n/a"
    ratio = app10 / max(bm10, dense10 or 0.0)
    print(f"turn_R@10 app={app10:.3f} bm25={bm10:.3f} dense={dense} ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
