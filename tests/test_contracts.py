"""The import contracts of pyproject.toml (DESIGN.md's arrows) hold, and they catch a breach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = (
    "import sys; from importlinter.cli import lint_imports;"
    "raise SystemExit(lint_imports(limit_to_contracts=tuple(sys.argv[1:]), no_cache=True))"
)


def lint(root: Path, *contracts: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LINT, *contracts],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_contract_catches_a_breach(tmp_path):
    shutil.copytree(ROOT / "chatmem", tmp_path / "chatmem", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    breaches = {
        "domain/dates.py": "import chatmem.config",  # domain: nothing of chatmem outside it
        "store/shards.py": "import chatmem.commands.common",  # a lower layer importing a higher one
        "protocol.py": "import chatmem.llm.errors",
        "ui/widgets/footer.py": "import chatmem.domain.recall",  # a rule, not a record
    }
    for path, line in breaches.items():
        with (tmp_path / "chatmem" / path).open("a") as f:
            f.write(f"\n{line}\n")
    # and the breach of domain makes a package cycle: domain -> config -> store -> domain
    done = lint(tmp_path, "layers", "domain", "protocol", "ui", "acyclic")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Contracts: 0 kept, 5 broken." in done.stdout, done.stdout
