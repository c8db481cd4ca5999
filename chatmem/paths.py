"""Where chatmem keeps things (XDG, via platformdirs), and private files written atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP = "chatmem"
PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Paths:
    config_file: Path
    config_dir: Path
    data_dir: Path
    state_dir: Path

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def themes_dir(self) -> Path:
        return self.config_dir / "themes"

    @property
    def prompts_dir(self) -> Path:
        return self.config_dir / "prompts"

    @property
    def models_file(self) -> Path:
        return self.config_dir / "models.toml"

    def describe(self) -> list[tuple[str, str]]:
        return [
            ("config file", str(self.config_file)),
            ("themes", str(self.themes_dir)),
            ("prompts", str(self.prompts_dir)),
            ("model table", str(self.models_file)),
            ("data", str(self.data_dir)),
            ("logs", str(self.log_dir)),
        ]


def _xdg(env: Mapping[str, str], var: str, fallback: str) -> Path:
    value = env.get(var, "")
    base = Path(value) if value and Path(value).is_absolute() else Path.home() / fallback
    return base / APP


def resolve_paths(env: Mapping[str, str] | None = None) -> Paths:
    """XDG base directories (read from ``env``, default ``os.environ``); CHATMEM_CONFIG wins."""
    env = os.environ if env is None else env
    if os.name == "nt":  # pragma: no cover - platformdirs knows the Windows conventions
        import platformdirs

        config_dir = Path(platformdirs.user_config_dir(APP, appauthor=False))
        data_dir = Path(platformdirs.user_data_dir(APP, appauthor=False))
        state_dir = Path(platformdirs.user_state_dir(APP, appauthor=False))
    else:
        config_dir = _xdg(env, "XDG_CONFIG_HOME", ".config")
        data_dir = _xdg(env, "XDG_DATA_HOME", ".local/share")
        state_dir = _xdg(env, "XDG_STATE_HOME", ".local/state")
    override = env.get("CHATMEM_CONFIG", "")
    config_file = Path(override).expanduser() if override else config_dir / "config.toml"
    return Paths(config_file, config_dir, data_dir, state_dir)


def private_dir(path: Path) -> Path:
    """Create ``path`` readable by the user only; parents it creates are private too."""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: str | bytes, *, private_parent: bool = True) -> None:
    """Replace ``path`` atomically with a 0600 file: temp file, fsync, rename, fsync dir.

    A crash at any instant leaves either the old file or the new one, never half of one.
    ``private_parent``: make the folder 0700 too (not for a folder the user chose: exports).
    """
    if private_parent:
        private_dir(path.parent)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def resource_dir(name: str) -> Path:
    """Shipped data: ``themes``/``prompts`` live in the wheel's package dir, or the repo root."""
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"chatmem's {name!r} folder is missing from the installation")
