"""Embeddings for benchmarks from an OpenAI-shaped ``/v1/embeddings`` endpoint, kept on disk.

Vectors are keyed by a digest of the text they were made from, per model, in two append-only
files under ``~/.cache/chatmem-bench/embeddings/<model>/`` (``keys.txt`` and ``vectors.f32``):
a second run of a benchmark embeds only texts it has not seen, so tuning is fast.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

import numpy as np

from chatmem.domain.vectors import digest

BATCH = 64
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "chatmem-bench"


class EmbeddingCache:
    def __init__(self, url: str, model: str = "all-minilm-l6-v2", folder: Path = CACHE) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.folder = folder / "embeddings" / re.sub(r"[^A-Za-z0-9._-]+", "_", model)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rows: dict[str, int] = {}
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.embedded = 0  # texts sent to the endpoint by this run
        self._load()

    def _load(self) -> None:
        keys_path, data_path = self.folder / "keys.txt", self.folder / "vectors.f32"
        if not keys_path.exists() or not data_path.exists():
            return
        keys = keys_path.read_text().split()
        data = np.fromfile(data_path, dtype=np.float32)
        dim = data.size // len(keys) if keys else 0
        if not dim:
            return
        count = min(len(keys), data.size // dim)
        self.matrix = data[: count * dim].reshape(count, dim)
        self.rows = {key: i for i, key in enumerate(keys[:count])}

    def vectors(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of ``texts`` (rows in order), embedding only those not cached."""
        keys = [digest(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self.rows))
        by_key = dict(zip(keys, texts, strict=True))
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            self._append(batch, self._embed([by_key[k] for k in batch]))
        return self.matrix[[self.rows[k] for k in keys]] if keys else self.matrix[:0]

    def _embed(self, texts: list[str]) -> np.ndarray:
        body = json.dumps({"model": self.model, "input": texts, "encoding_format": "float"})
        request = urllib.request.Request(
            f"{self.url}/embeddings", body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            data = sorted(json.load(response)["data"], key=lambda item: item["index"])
        vectors = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        self.embedded += len(texts)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def _append(self, keys: list[str], vectors: np.ndarray) -> None:
        with open(self.folder / "vectors.f32", "ab") as data:
            data.write(vectors.astype(np.float32).tobytes())
        with open(self.folder / "keys.txt", "a") as index:
            index.write("".join(f"{k}\n" for k in keys))
        start = len(self.rows)
        self.matrix = vectors if not start else np.vstack([self.matrix, vectors])
        for i, key in enumerate(keys):
            self.rows[key] = start + i
