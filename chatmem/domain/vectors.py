"""Embedding vectors for semantic recall: stored compactly, searched in one matrix product."""

from __future__ import annotations

import base64
import hashlib

import numpy as np


def digest(text: str) -> str:
    """What a vector was made from: an edited memory gets a new one."""
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16]


def unit(vector: list[float] | np.ndarray) -> np.ndarray | None:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if array.ndim == 1 and array.size and norm > 0 else None


def encode(vector: np.ndarray) -> str:
    """A unit vector as base64 half-floats: 1 KB for 512 dimensions instead of ~10 KB of JSON."""
    return base64.b64encode(vector.astype("<f2").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)


class VectorIndex:
    """Unit vectors by key, rows of one matrix (grown by doubling, holes filled from the end)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.rows: dict[str, int] = {}
        self.matrix = np.zeros((0, 0), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, vector: np.ndarray) -> bool:
        """Add or replace; False if its dimensions differ from the vectors already here."""
        if not len(self.keys):
            self.matrix = np.zeros((64, vector.size), dtype=np.float32)
        elif vector.size != self.matrix.shape[1]:
            return False
        row = self.rows.get(key)
        if row is None:
            row = len(self.keys)
            if row == self.matrix.shape[0]:
                self.matrix = np.resize(self.matrix, (row * 2, self.matrix.shape[1]))
            self.keys.append(key)
            self.rows[key] = row
        self.matrix[row] = vector
        return True

    def remove(self, key: str) -> None:
        row = self.rows.pop(key, None)
        if row is None:
            return
        last = self.keys.pop()
        if last != key:
            self.keys[row] = last
            self.rows[last] = row
            self.matrix[row] = self.matrix[len(self.keys)]

    def nearest(self, vector: np.ndarray, k: int, floor: float) -> dict[str, float]:
        """Up to ``k`` keys whose cosine with ``vector`` is at least ``floor``."""
        count = len(self.keys)
        if not count or vector.size != self.matrix.shape[1]:
            return {}
        scores = self.matrix[:count] @ vector
        top = np.argpartition(-scores, k)[:k] if count > k else np.arange(count)
        return {self.keys[i]: float(scores[i]) for i in top.tolist() if scores[i] >= floor}
