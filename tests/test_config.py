"""Settings layers, saving, XDG paths and shipped resources."""

from __future__ import annotations

import re
import stat
import tomllib
from dataclasses import fields
from pathlib import Path

from chatmem.config import Settings, load_settings
from chatmem.paths import resolve_paths, resource_dir
from chatmem.store.config_file import save_settings


def write_config(text: str) -> Path:
    path = resolve_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_readme_lists_every_setting_with_its_variable():
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)`[^|]*\| `(\w+)` \|", readme, re.MULTILINE))
    declared = {f.name: f.metadata["env"] for f in fields(Settings) if "env" in f.metadata}
    assert rows == declared


def test_every_setting_is_read_from_its_variable(isolated_home, monkeypatch):
    for f in fields(Settings):
        if "env" in f.metadata:
            monkeypatch.setenv(f.metadata["env"], "7")
    settings, problems = load_settings()
    assert problems == []
    assert settings.max_retries == 7 and settings.request_timeout == 7.0
    assert settings.model == "7" and settings.context_window == 7


def test_defaults(isolated_home):
    settings, problems = load_settings()
    assert problems == []
    assert settings.base_url == "https://api.openai.com/v1" and settings.model == ""
    assert not settings.configured and settings.effective_model == "gpt-4o-mini"
    assert settings.data_dir == str(isolated_home / "data" / "chatmem")


def test_each_layer_overrides_the_one_below(isolated_home, monkeypatch):
    write_config(
        'model = "from-file"\ntheme = "file-theme"\nprofile = "file"\nbase_url = "http://file/v1/"'
    )
    (isolated_home / ".env").write_text("CHATMEM_MODEL=from-dotenv\nCHATMEM_THEME=dotenv-theme\n")
    monkeypatch.setenv("CHATMEM_THEME", "env-theme")
    settings, problems = load_settings({"profile": "flag", "model": None})
    assert problems == []
    assert settings.model == "from-dotenv"  # .env beats the file
    assert settings.theme == "env-theme"  # the real environment beats .env
    assert settings.profile == "flag"  # flags beat everything
    assert settings.base_url == "http://file/v1"  # trailing slash dropped
    assert settings.configured  # a non-OpenAI server needs no key


def test_a_broken_config_file_gives_defaults_and_says_so(isolated_home):
    path = write_config('model = "unterminated\n')
    settings, problems = load_settings()
    assert settings.model == "" and len(problems) == 1 and str(path) in problems[0]


def test_bad_values_are_ignored_with_a_problem(isolated_home, monkeypatch):
    write_config(
        'request_timeout = "soon"\nmax_retries = -1\napi_key = 5\n'
        '[models."x"]\ncontext_window = "big"'
    )
    monkeypatch.setenv("CHATMEM_CONTEXT_WINDOW", "lots")
    settings, problems = load_settings()
    assert settings.request_timeout == 60.0 and settings.max_retries == 2
    assert settings.context_window is None and settings.models["x"].context_window is None
    assert len(problems) == 5
    assert all("5" not in p or "api_key" not in p or "hidden" in p for p in problems)


def test_model_tables_are_read(isolated_home):
    write_config('[models."llama3.1:8b"]\ncontext_window = 32768\ninput_price = 0\n')
    settings, _ = load_settings()
    assert settings.models["llama3.1:8b"].context_window == 32768


def test_save_keeps_other_keys_and_tables_and_is_private(isolated_home):
    path = write_config('theme = "x"\n[models."m"]\ncontext_window = 4096\n')
    save_settings(path, {"model": 'we"ird\\name', "api_key": "sk-abc"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = tomllib.loads(path.read_text())
    assert data == {
        "theme": "x",
        "model": 'we"ird\\name',
        "api_key": "sk-abc",
        "models": {"m": {"context_window": 4096}},
    }
    settings, problems = load_settings()
    assert problems == [] and settings.model == 'we"ird\\name' and settings.api_key == "sk-abc"


def test_saving_over_an_unreadable_config_keeps_the_old_one_aside(isolated_home):
    path = write_config("this is = = not toml")
    save_settings(path, {"model": "m"})
    assert tomllib.loads(path.read_text()) == {"model": "m"}
    assert [p.read_text() for p in path.parent.glob("config.toml.corrupt-*")] == [
        "this is = = not toml"
    ]


def test_the_key_never_shows_in_a_repr(isolated_home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-key-123")
    settings, _ = load_settings()
    assert settings.api_key == "sk-very-secret-key-123"
    assert "sk-very-secret" not in repr(settings) and "sk-very-secret" not in str(settings)


def test_paths_follow_xdg_and_chatmem_config(isolated_home, monkeypatch):
    paths = resolve_paths()
    assert paths.config_file == isolated_home / "config" / "chatmem" / "config.toml"
    assert paths.log_dir == isolated_home / "state" / "chatmem" / "logs"
    monkeypatch.setenv("CHATMEM_CONFIG", str(isolated_home / "elsewhere.toml"))
    assert resolve_paths().config_file == isolated_home / "elsewhere.toml"
    labels = [label for label, _ in resolve_paths().describe()]
    assert "config file" in labels and "data" in labels and "logs" in labels


def test_shipped_resources_are_found():
    assert (resource_dir("themes") / "chatmem-dark.toml").is_file()
    assert (resource_dir("prompts") / "system.md").is_file()
    assert (resource_dir("data") / "models.toml").is_file()


def test_settings_round_trip_through_the_protocol():
    import pickle

    s = Settings(api_key="sk-x", model="m")
    assert pickle.loads(pickle.dumps(s)) == s
