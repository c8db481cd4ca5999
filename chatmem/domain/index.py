"""An incremental BM25 index kept in the worker's memory.

rank-bm25 rebuilds its statistics from the whole corpus, so every added memory would cost
O(corpus); this index updates its postings in O(document) and scores a query in
O(postings of its terms).
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable

import Stemmer

WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STOP = """
    a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each few for from further had hadn't has hasn't
    have haven't having he he'd he'll he's her here here's hers herself him himself his
    how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more
    most mustn't my myself no nor not of off on once only or other ought our ours
    ourselves out over own same shan't she she'd she'll she's should shouldn't so some
    such than that that's the their theirs them themselves then there there's these they
    they'd they'll they're they've this those through to too under until up very was
    wasn't we we'd we'll we're we've were weren't what what's when when's where where's
    which while who who's whom why why's with won't would wouldn't you you'd you'll
    you're you've your yours yourself yourselves also just like get got really yeah oh s
    t d ll m re ve
"""
STOP_WORDS = frozenset(_STOP.split())


def words(text: str) -> list[str]:
    """Lower-cased word tokens without stop words."""
    return [w for w in WORD.findall(text.lower()) if w not in STOP_WORDS]


_LOCAL = threading.local()  # a stemmer keeps state: one per thread (search runs in one)


def _stemmer() -> Stemmer.Stemmer:
    try:
        return _LOCAL.stemmer
    except AttributeError:
        _LOCAL.stemmer = Stemmer.Stemmer("english", 100_000)  # Snowball (Porter 2), cached
        return _LOCAL.stemmer


def stem(word: str) -> str:
    """The Snowball stem: 'sisters' and 'sister', 'studies' and 'study', 'caring' and 'care'."""
    return _stemmer().stemWord(word)


def terms(text: str) -> list[str]:
    """The stems of ``text``'s words, stop words left out: what the indexes hold."""
    return _stemmer().stemWords(words(text))


def stamp(text: str) -> str:
    """A short digest of an indexed text: the same text, the same stamp."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _idf(n: int, df: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


Postings = dict[str, tuple[int, list[tuple[str, int, int]]]]  # term -> (df, [(doc, tf, length)])


def bm25(
    n: int,
    total: int,
    postings: Postings,
    query_terms: set[str],
    matched: dict[str, float] | None = None,
    k1: float = 1.2,
    b: float = 0.75,
) -> dict[str, float]:
    """BM25 scores from each query term's document frequency and postings (the same sums
    in memory and on disk); ``matched`` gets each document's share of the query's summed
    IDF (a term no document holds weighs as the rarest)."""
    if not n:
        return {}
    avg = total / n or 1.0
    whole = sum(_idf(n, postings[term][0]) for term in query_terms) or 1.0
    out: dict[str, float] = {}
    for term in query_terms:
        df, docs = postings[term]
        if not df:
            continue
        idf = _idf(n, df)
        for doc_id, tf, length in docs:
            norm = tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))
            out[doc_id] = out.get(doc_id, 0.0) + idf * norm
            if matched is not None:
                matched[doc_id] = matched.get(doc_id, 0.0) + idf / whole
    return out


class BM25Index:
    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.postings: dict[str, dict[str, int]] = {}
        self.lengths: dict[str, int] = {}
        self.doc_terms: dict[str, tuple[str, ...]] = {}  # what to unlink on removal
        self.total = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self.lengths

    def add(self, doc_id: str, text: str) -> None:
        if doc_id in self.lengths:
            self.remove(doc_id)
        counts = Counter(terms(text))
        for term, tf in counts.items():
            self.postings.setdefault(term, {})[doc_id] = tf
        length = sum(counts.values())
        self.lengths[doc_id] = length
        self.doc_terms[doc_id] = tuple(counts)
        self.total += length

    def remove(self, doc_id: str) -> None:
        length = self.lengths.pop(doc_id, None)
        if length is None:
            return
        self.total -= length
        for term in self.doc_terms.pop(doc_id, ()):
            docs = self.postings[term]
            docs.pop(doc_id, None)
            if not docs:
                del self.postings[term]

    def scores(
        self,
        query: str,
        keep: Callable[[str], bool] | None = None,
        matched: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """BM25 score of every document sharing a term with ``query``; ``matched`` gets each
        one's share of the query's term weight (see ``weight``)."""
        lengths = self.lengths
        query_terms = set(terms(query))
        postings = {}
        for term in query_terms:
            docs = self.postings.get(term, {})
            rows = [(d, tf, lengths[d]) for d, tf in docs.items() if keep is None or keep(d)]
            postings[term] = (len(docs), rows)
        return bm25(len(lengths), self.total, postings, query_terms, matched, self.k1, self.b)

    def stamps(self) -> dict[str, str]:
        """What ``SearchIndex`` keeps to tell which documents changed: nothing in memory."""
        return {}

    def search(self, query: str, k: int = 10, keep=None) -> list[tuple[str, float]]:
        ranked = sorted(self.scores(query, keep).items(), key=lambda item: -item[1])
        return ranked[:k]

    def add_all(self, items: Iterable[tuple[str, str]]) -> None:
        for doc_id, text in items:
            self.add(doc_id, text)
