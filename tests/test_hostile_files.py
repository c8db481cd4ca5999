"""Files of the right syntax and the wrong shape (tests/data/hostile/) are set aside or
reported, never a crash loop; saving settings edits the user's config file in place."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tomllib
from pathlib import Path

from chatmem import protocol as p
from chatmem.config import load_settings
from chatmem.logs import setup_logging
from chatmem.paths import resource_dir
from chatmem.store.profile import Profile
from chatmem.ui.themes import load_themes
from tests.harness import FIXED_TIME, WorkerHarness

HOSTILE = Path(__file__).parent / "data" / "hostile"


def profile_dir(settings) -> Path:
    return Path(settings.data_dir) / "profiles" / "default"


def config_dir(home: Path) -> Path:
    folder = home / "config" / "chatmem"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def started(settings) -> WorkerHarness:
    h = WorkerHarness(settings)
    await h.request(p.Start(settings))
    return h


def notices(h: WorkerHarness) -> str:
    return "\n".join(n.text for n in h.of(p.Notice))


# ---------------------------------------------------------------- the store


async def test_a_store_table_that_is_a_string_is_set_aside(settings):
    with Profile.open(Path(settings.data_dir), "default") as profile:
        profile.sessions.create(FIXED_TIME, "Kept", session_id="s-kept")
    index = profile_dir(settings) / "sessions.json"
    shutil.copy(HOSTILE / "sessions-table-is-a-string.json", index)
    h = await started(settings)
    assert f"{index} was unreadable and was moved to {index}.corrupt-" in notices(h)
    assert h.last(p.SessionLoaded).session.id == "s-kept"  # the list rebuilt from the files
    await h.close()
    assert [f.name for f in index.parent.glob("sessions.json.corrupt-*")]


async def test_a_newer_resumed_session_leaves_the_app_usable(settings):
    with Profile.open(Path(settings.data_dir), "default") as profile:
        profile.sessions.create(FIXED_TIME - 60, "Older", session_id="s-older")
        profile.sessions.create(FIXED_TIME, "From the future", session_id="s-newer")
    newer = profile_dir(settings) / "sessions" / "s-newer.json"
    shutil.copy(HOSTILE / "session-file-newer-schema.json", newer)
    h = await started(settings)
    assert h.last(p.SessionLoaded).session.id == "s-older"
    assert "made by a newer chatmem (schema 99" in notices(h)
    await h.request(p.SendMessage("Still here"))
    await h.close()
    assert newer.read_bytes() == (HOSTILE / "session-file-newer-schema.json").read_bytes()


async def test_a_newer_first_shard_leaves_memories_writable(settings):
    shard = profile_dir(settings) / "memories" / "shard-00000.json"
    shard.parent.mkdir(parents=True)
    shutil.copy(HOSTILE / "shard-newer-schema.json", shard)
    h = await started(settings)
    assert "made by a newer chatmem (schema 99" in notices(h)
    await h.request(p.Remember("I keep bees"))
    assert h.last(p.MemoryChanged).title == "I keep bees"
    await h.close()
    assert shard.read_bytes() == (HOSTILE / "shard-newer-schema.json").read_bytes()
    with Profile.open(Path(settings.data_dir), "default") as profile:
        assert "I keep bees" in [m.title for m in profile.memories]


# ---------------------------------------------------------------- config files


async def test_a_model_table_of_the_wrong_type_is_ignored(settings, isolated_home, caplog):
    shutil.copy(
        HOSTILE / "models-context-window-big.toml", config_dir(isolated_home) / "models.toml"
    )
    with caplog.at_level(logging.WARNING):
        h = await started(settings)
    assert h.worker.model.context_window == 128_000  # the shipped table's
    assert h.worker.model.max_output_tokens == 500  # the rest of the entry is kept
    assert "models.gpt-4o-mini.context_window = 'big' is not a usable number" in caplog.text
    await h.close()


def test_the_config_files_models_are_checked_the_same_way(isolated_home):
    config = config_dir(isolated_home) / "config.toml"
    shutil.copy(HOSTILE / "models-context-window-big.toml", config)
    settings, problems = load_settings(env={"XDG_CONFIG_HOME": str(isolated_home / "config")})
    assert settings.models["gpt-4o-mini"].context_window is None
    assert settings.models["gpt-4o-mini"].max_output_tokens == 500
    assert problems == [f"{config}: models.gpt-4o-mini.context_window = 'big' is not a usable "
                        "number; ignored."]  # fmt: skip


async def test_a_prompt_that_is_not_utf8_falls_back_to_the_shipped_one(
    settings, isolated_home, fake_openai
):
    prompts = config_dir(isolated_home) / "prompts"
    prompts.mkdir()
    shutil.copy(HOSTILE / "prompt-latin1.txt", prompts / "system.md")
    h = await started(settings)
    shipped = (resource_dir("prompts") / "system.md").read_text().strip()
    assert h.worker.chat.system == shipped
    await h.close()


def test_a_theme_colour_that_does_not_parse_is_reported(tmp_path):
    shutil.copy(HOSTILE / "theme-bad-colour.toml", tmp_path / "broken.toml")
    themes, problems = load_themes(resource_dir("themes"), tmp_path)
    assert "broken" not in {t.name for t in themes}
    assert problems == [
        f"Theme {tmp_path / 'broken.toml'} was not loaded: a colour is wrong "
        "(failed to parse '#12345z' as a color)."
    ]


def test_an_unknown_log_level_is_reported_not_fatal(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATMEM_LOG_LEVEL", "verbose")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        path = setup_logging(tmp_path, "test")
        assert root.level == logging.INFO
        assert "CHATMEM_LOG_LEVEL='VERBOSE' is not a level" in path.read_text()
    finally:
        for handler in root.handlers[len(handlers) :]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)


# ---------------------------------------------------------------- saving settings


async def save(settings, values: dict[str, str]) -> WorkerHarness:
    h = await started(settings)
    await h.request(p.SaveSettings(values))
    assert h.last(p.SettingsSaved)
    await h.close()
    return h


async def test_saving_keeps_the_comments_of_the_config_file(settings):
    config = Path(settings.config_path)
    config.parent.mkdir(parents=True)
    shutil.copy(HOSTILE / "config-with-comments.toml", config)
    await save(settings, {"model": "gpt-4.1", "theme": "chatmem-light"})
    assert config.read_text() == (
        "# My chatmem settings, kept by hand.\n"
        'model = "gpt-4.1"  # the cheap one\n'
        'theme = "chatmem-light"\n'
        "\n"
        "# Prices I negotiated\n"
        '[models."gpt-4o-mini"]\n'
        "context_window = 128000  # as documented\n"
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


async def test_saving_writes_through_a_symlink_and_leaves_a_shared_folder_alone(settings, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    target = shared / "chatmem.toml"
    shutil.copy(HOSTILE / "config-with-comments.toml", target)
    config = Path(settings.config_path)
    config.parent.mkdir(parents=True)
    config.symlink_to(target)
    await save(settings, {"model": "gpt-4.1"})
    assert config.is_symlink() and config.resolve() == target
    assert tomllib.loads(target.read_text())["model"] == "gpt-4.1"
    assert "# Prices I negotiated" in target.read_text()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert sorted(p.name for p in shared.iterdir()) == ["chatmem.toml"]
