"""Sessions through the worker: titles, list, search, open at a message, delete, export and
import, profiles — against the fake server and real TinyDB files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from chatmem import protocol as p
from chatmem.domain.memories import make_memory
from chatmem.domain.recall import Recall
from chatmem.domain.search import search
from chatmem.services.sessions import clean_title, fallback_title
from chatmem.store.export import ImportProblem, from_json
from chatmem.store.profile import Profile
from tests.fake_openai import Error
from tests.harness import FIXED_TIME, WorkerHarness
from tests.seed import T0, seed


async def started(settings, **kwargs) -> WorkerHarness:
    harness = WorkerHarness(settings)
    await harness.request(p.Start(settings, **kwargs))
    return harness


async def listed(h: WorkerHarness) -> p.SessionList:
    await h.request(p.ListSessions())
    return h.last(p.SessionList)


def test_titles_are_one_clean_line():
    assert fallback_title("\n  What should I plant\nin March?") == "What should I plant"
    assert len(fallback_title("word " * 40)) == 60
    assert clean_title('Title: "Planting in March".\nmore') == "Planting in March"
    assert clean_title("**Bees & swarms**") == "Bees & swarms"


async def test_the_first_exchange_names_the_session(settings, fake_openai):
    h = await started(settings)
    await h.request(p.SendMessage("What should I plant in March?"))
    titles = [e.session.title for e in h.of(p.SessionUpdated)]
    assert titles == ["What should I plant in March?", "Notes on What should I"]
    await h.request(p.SendMessage("And in April?"))
    assert len(fake_openai.title_requests()) == 1  # named once
    assert (await listed(h)).rows[0].session.title == "Notes on What should I"
    await h.close()


async def test_without_a_title_from_the_model_the_first_line_stays(settings, fake_openai):
    fake_openai.script_title(Error(500, "boom"))
    h = await started(settings)
    await h.request(p.SendMessage("Bees\nand more"))
    assert (await listed(h)).rows[0].session.title == "Bees"
    await h.close()


async def test_list_counts_messages_tokens_and_memories(settings):
    seed(settings)
    h = await started(settings, new_session=True)
    found = await listed(h)
    rows = {row.session.id: row for row in found.rows}
    assert list(rows)[1:] == ["s-bees", "s-lisbon"]  # the new one, then the most recent
    assert found.current == found.rows[0].session.id and found.profile == "default"
    lisbon = rows["s-lisbon"]
    assert lisbon.session.message_count == 4 and lisbon.memories == 3
    assert lisbon.session.updated == T0 + 65 and lisbon.session.tokens > 0
    await h.request(p.RenameSession("s-lisbon", "  Anna in   Lisbon "))
    assert h.last(p.SessionList).rows[2].session.title == "Anna in Lisbon"
    await h.close()


async def test_search_finds_words_in_any_form_newest_first(settings):
    seed(settings)
    h = await started(settings, new_session=True)
    await h.request(p.SearchSessions("Anna"))
    results = h.last(p.SearchResults)
    assert [hit.message_id for hit in results.hits] == ["a1", "u1"]
    assert results.total == 2
    hit = results.hits[0]
    assert hit.session_title == "Lisbon plans"
    assert hit.replying_to == "My sister Anna lives in Lisbon."
    assert [hit.snippet[a:b] for a, b in hit.marks] == ["Anna"]
    await h.request(p.SearchSessions("swarms spring"))  # every word, in any form
    assert [hit.message_id for hit in h.last(p.SearchResults).hits] == ["u3"]
    await h.request(p.SearchSessions("giraffe"))
    assert h.last(p.SearchResults).total == 0
    await h.close()


async def test_a_query_typed_on_replaces_the_one_still_waiting(settings):
    seed(settings)
    h = await started(settings, new_session=True)
    for typed in ("L", "Li", "Lis", "Lisb"):  # read before the worker gets to search
        await h.worker.handle(p.SearchSessions(typed))
    await h.settle()
    assert [e.query for e in h.of(p.SearchResults)] == ["Lisb"]
    await h.close()


async def test_search_finds_a_message_that_was_never_answered(settings, fake_openai):
    fake_openai.script(Error(500, "boom"), Error(500, "boom"), Error(500, "boom"))
    h = await started(settings)
    await h.request(p.SendMessage("Where did I park the tandem bicycle?"))
    assert h.last(p.ReplyFailed).user_message_id
    await h.close()
    h = await started(settings)  # found after a restart too, when the index is rebuilt
    await h.request(p.SearchSessions("tandem"))
    assert [hit.role for hit in h.last(p.SearchResults).hits] == ["user"]
    await h.close()


def test_a_search_snippet_is_one_line_around_the_match():
    recall = Recall()
    text = "Preamble " * 20 + "the\n\nkey   word is here " + "tail " * 50
    recall.add_turn("s", p.ChatMessage("m1", "user", text, 1.0))
    [found], total = search(recall, "key word")
    assert total == 1 and "\n" not in found.snippet
    assert found.snippet.startswith("…") and found.snippet.endswith("…")
    assert [found.snippet[a:b] for a, b in found.marks] == ["key", "word"]
    [found], _ = search(recall, "is")  # only stop words: the text as typed
    assert [found.snippet[a:b] for a, b in found.marks] == ["is"]


async def test_a_session_opens_at_a_message_far_back(settings):
    with Profile.open(Path(settings.data_dir), "default") as profile:
        profile.sessions.create(FIXED_TIME, "Long", session_id="s-long")
        profile.sessions.extend(
            "s-long",
            [
                p.ChatMessage(
                    f"m{i}", "user" if i % 2 else "assistant", f"line {i}", FIXED_TIME + i
                )
                for i in range(1000)
            ],
        )
    h = await started(settings, new_session=True)
    await h.request(p.OpenSession("s-long", "m100"))
    loaded = h.last(p.SessionLoaded)
    assert loaded.focus_id == "m100" and loaded.has_older and loaded.has_newer
    assert loaded.messages[0].id == "m98" and len(loaded.messages) == 30
    await h.request(p.LoadNewer(loaded.messages[-1].id, limit=900))
    newer = h.last(p.NewerMessages)
    assert newer.messages[0].id == "m128" and newer.messages[-1].id == "m999"
    assert not newer.has_newer
    await h.close()


async def test_delete_keeps_memories_unless_asked(settings):
    seed(settings)
    h = await started(settings)  # resumes s-bees, the latest
    assert h.last(p.SessionLoaded).session.id == "s-bees"
    await h.request(p.DeleteSession("s-bees"))
    assert h.last(p.SessionLoaded).session.id == "s-lisbon"  # the chat moves on
    await h.request(p.DeleteSession("s-lisbon", with_memories=True))
    store = h.worker.memory.store
    assert {m.id for m in store} == {"m-self", "m-bees", "m-berlin", "m-madrid", "m-journal-bees"}
    assert [row.session.message_count for row in h.last(p.SessionList).rows] == [0]
    await h.request(p.SearchSessions("Anna"))
    assert h.last(p.SearchResults).total == 0
    await h.close()
    assert not (Path(settings.data_dir) / "profiles/default/sessions/s-lisbon.json").exists()


async def test_export_markdown_and_json_then_import_back(settings, tmp_path):
    seed(settings)
    h = await started(settings, new_session=True)
    await h.request(p.ExportSession("s-lisbon", str(tmp_path / "lisbon.md")))
    markdown = (tmp_path / "lisbon.md").read_text()
    assert markdown.startswith("# Lisbon plans\n") and "## You — " in markdown
    assert "Her show opens on 3 October." in markdown
    assert stat.S_IMODE(os.stat(tmp_path / "lisbon.md").st_mode) == 0o600
    await h.request(p.ExportSession("s-lisbon", str(tmp_path / "lisbon.md")))
    assert "exists already" in h.last(p.Notice).text
    await h.request(p.ExportSession("s-lisbon", "lisbon.json"))  # relative: the current dir
    exported = json.loads(Path("lisbon.json").read_text())
    assert [m["id"] for m in exported["messages"]] == ["u1", "a1", "u2", "a2"]
    await h.request(p.ImportSession("lisbon.json"))
    assert "Imported “Lisbon plans” (4 messages)" in h.last(p.Notice).text
    rows = h.last(p.SessionList).rows
    copies = [r.session for r in rows if r.session.title == "Lisbon plans"]
    assert len(copies) == 2 and all(c.message_count == 4 for c in copies)
    await h.request(p.SearchSessions("landscapes"))
    assert h.last(p.SearchResults).total == 2  # the copy is searchable too
    await h.close()


async def test_a_foreign_file_is_not_imported(settings, tmp_path):
    h = await started(settings)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    await h.request(p.ImportSession(str(bad)))
    assert "not a chatmem session export" in h.last(p.Notice).text
    await h.request(p.ImportSession(str(tmp_path / "missing.json")))
    assert h.last(p.Notice).level == "error"
    assert len((await listed(h)).rows) == 1
    await h.close()
    with pytest.raises(ImportProblem, match="newer"):
        from_json('{"format": "chatmem-session", "version": 99}')


async def test_profiles_keep_separate_sessions_and_memories(settings):
    seed(settings)
    h = await started(settings)
    await h.request(p.SwitchProfile("work"))
    loaded = h.last(p.SessionLoaded)
    assert loaded.settings.profile == "work" and loaded.messages == ()
    assert {m.kind for m in h.worker.memory.store} == {"person"}  # only the self
    await h.request(p.Remember("The quarterly report is due Friday"))
    found = await listed(h)
    assert found.profile == "work" and found.profiles == ("default", "work")
    await h.request(p.SwitchProfile("no/such"))
    assert "not a valid profile name" in h.last(p.Notice).text
    assert h.worker.settings.profile == "work"  # still usable
    await h.request(p.SwitchProfile("default"))
    assert h.last(p.SessionLoaded).session.id == "s-bees"
    assert not any("quarterly" in m.text() for m in h.worker.memory.store)
    await h.close()


async def test_a_profile_open_elsewhere_is_refused(settings):
    h = await started(settings)
    with Profile.open(Path(settings.data_dir), "busy"):
        await h.request(p.SwitchProfile("busy"))
    assert "open in another chatmem" in h.last(p.Notice).text
    assert h.worker.settings.profile == "default"
    await h.close()


async def test_an_index_without_token_counts_is_counted_again(settings):
    with Profile.open(Path(settings.data_dir), "default") as profile:
        profile.sessions.create(FIXED_TIME, "Old", session_id="s-old")
        profile.sessions.append("s-old", p.ChatMessage("x", "user", "hello", FIXED_TIME, tokens=7))
    index = Path(settings.data_dir) / "profiles/default/sessions.json"
    data = json.loads(index.read_text())
    for doc in data["sessions"].values():
        del doc["tokens"]
    index.write_text(json.dumps(data))
    with Profile.open(Path(settings.data_dir), "default") as profile:
        assert [s.tokens for s in profile.sessions.list()] == [7]


async def test_a_memory_learnt_in_a_session_is_counted_for_it(settings):
    h = await started(settings)
    session_id = h.last(p.SessionLoaded).session.id
    memory = make_memory("fact", {"note": "x"}, FIXED_TIME, session_id)
    h.worker.memory.store.put(memory)
    assert (await listed(h)).rows[0].memories == 1
    await h.close()


def test_search_finds_every_form_of_a_word():
    recall = Recall()
    recall.add_turn("s", p.ChatMessage("m1", "user", "She studies marine biology", 1.0))
    recall.add_turn("s", p.ChatMessage("m2", "user", "I studied it at night", 2.0))
    recall.add_turn("s", p.ChatMessage("m3", "user", "Two students in the studio", 3.0))
    found, total = search(recall, "studies")
    assert total == 2 and [f.turn.id for f in found] == ["m2", "m1"]
    assert [found[1].snippet[a:b] for a, b in found[1].marks] == ["studies"]
    assert search(recall, "study")[1] == 2
