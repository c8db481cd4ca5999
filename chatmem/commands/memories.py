"""``chatmem memories``: list, show, add, edit, delete, pin, export and import memories.

They open the profile directly (reads without its lock, so they work while the app runs);
fields are checked by the memory form's own rules (``chatmem.domain.browse.parse_form``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from chatmem.commands.common import (
    USAGE,
    Failure,
    find,
    memories_of,
    reading,
    when,
    write_output,
    writing,
)
from chatmem.domain.browse import Finder, form_values, group_of, parse_filter, record
from chatmem.domain.memories import FORM, REQUIRED, Memory
from chatmem.store.memories import memory_doc
from chatmem.store.transfer import to_json

if TYPE_CHECKING:
    from chatmem.config import Settings
    from chatmem.store.profile import Profile

LISTING = "chatmem memories list"


def run(args: argparse.Namespace, settings: Settings) -> int:
    handler = {
        "list": list_memories,
        "show": show,
        "add": add,
        "edit": edit,
        "rm": remove,
        "pin": pin,
        "unpin": pin,
        "export": export,
        "import": import_file,
    }[args.action]
    return handler(args, settings)


def doc(memory: Memory) -> dict[str, Any]:
    """The whole record, as scripts get it (``memories import`` reads it back)."""
    return {**memory_doc(memory), "text": memory.text()}


def _json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=1))


def _get(profile: Profile | None, wanted: str) -> Memory:
    memories = profile.memories.memories if profile is not None else {}
    return memories[find(memories, wanted, "memory", LISTING)]


# ---------------------------------------------------------------- reading


def list_memories(args: argparse.Namespace, settings: Settings) -> int:
    flt = parse_filter(" ".join(args.filter))
    finder = Finder()
    with reading(settings) as profile:
        found = [
            m
            for m in (profile.memories if profile is not None else ())
            if (m.active or args.all or flt.superseded) and finder.matches(m, flt, set())
        ]
    found.sort(key=lambda m: -m.updated)
    if args.json:
        _json([doc(m) for m in found])
        return 0
    for m in found:
        marks = "".join((" pinned" if m.pinned else "", " superseded" if not m.active else ""))
        print(f"{m.id}  {group_of(m):<12}  {when(m.updated)}  {m.title}{marks}")
    return 0


def show(args: argparse.Namespace, settings: Settings) -> int:
    with reading(settings) as profile:
        memory = _get(profile, args.id)
    if args.json:
        _json(doc(memory))
        return 0
    flags = [f for f, on in (("pinned", memory.pinned), ("superseded", not memory.active)) if on]
    lines = [f"{memory.id} · {group_of(memory)}{''.join(f' · {f}' for f in flags)}", memory.text()]
    values = form_values(memory.kind, memory.fields)
    lines += ["", *(f"{key}: {value}".rstrip() for key, value in values)]
    lines += ["", f"created {when(memory.created)} · updated {when(memory.updated)}"]
    if memory.session_id:
        said = f" (messages {', '.join(memory.message_ids)})" if memory.message_ids else ""
        lines.append(f"learnt in session {memory.session_id}{said}")
    if memory.superseded_by:
        lines.append(f"superseded by {memory.superseded_by}")
    if memory.history:
        lines += ["", "earlier versions:"]
        lines += [f"  {when(v.at)} (replaced by {v.by}): {v.text}" for v in record(memory).history]
    print("\n".join(lines))
    return 0


def export(args: argparse.Namespace, settings: Settings) -> int:
    with reading(settings) as profile:
        memories = sorted(profile.memories if profile is not None else (), key=lambda m: m.created)
    write_output(args.output, to_json(memories))
    if args.output and args.output != "-":
        print(f"Exported {len(memories):,} memories to {args.output}.")
    return 0


# ---------------------------------------------------------------- writing


def _given(args: argparse.Namespace, kind: str, adding: bool) -> dict[str, str]:
    """The ``--FIELD VALUE`` options given; a field the kind lacks is a usage error."""
    given = {
        key.removeprefix("field_"): value
        for key, value in vars(args).items()
        if key.startswith("field_") and value is not None
    }
    known = [key for key, _, _ in FORM[kind][1 if adding else 0 :]]  # add: the first is TEXT
    wrong = [key for key in given if key not in known]
    if wrong:
        options = ", ".join("--" + key for key in known)
        raise Failure(f"A {kind} has no field {wrong[0]!r}; its options: {options}.", USAGE)
    return given


def _report(verb: str, memory: Memory, as_json: bool = False) -> None:
    if as_json:
        _json(doc(memory))
    else:
        print(f"{verb} {memory.kind} {memory.id}: {memory.title}")


def add(args: argparse.Namespace, settings: Settings) -> int:
    from chatmem.services.memories import checked  # the writes import the service: not `list`

    values = {**_given(args, args.type, adding=True), REQUIRED[args.type]: args.text}
    checked(args.type, values, False, time.time())  # bad fields never make the profile
    with writing(settings) as profile:
        (added,) = memories_of(profile).save("", args.type, values)
        memory = memories_of(profile).get(added.memory_id)
    _report("Remembered", memory, args.json)
    return 0


def edit(args: argparse.Namespace, settings: Settings) -> int:
    from chatmem.services.errors import Unchanged

    with writing(settings) as profile:
        before = _get(profile, args.id)
        given = _given(args, before.kind, adding=False)
        if not given:
            raise Failure("Say what to change: chatmem memories edit ID --FIELD VALUE …", USAGE)
        values = {**dict(form_values(before.kind, before.fields)), **given}
        try:
            memories_of(profile).save(before.id, before.kind, values)
        except Unchanged:
            print(f"Nothing changed in {before.id}.", file=sys.stderr)
            return 0
        after = memories_of(profile).get(before.id)
    _report("Updated", after, args.json)
    return 0


def remove(args: argparse.Namespace, settings: Settings) -> int:
    with writing(settings) as profile:
        memory = _get(profile, args.id)
        memories_of(profile).delete(memory.id)
    _report("Forgot", memory)
    return 0


def pin(args: argparse.Namespace, settings: Settings) -> int:
    pinned = args.action == "pin" and not args.off
    with writing(settings) as profile:
        service, memory_id = memories_of(profile), _get(profile, args.id).id
        service.pin(memory_id, pinned)
        memory = service.get(memory_id)
    _report("Pinned" if pinned else "Unpinned", memory)
    return 0


def import_file(args: argparse.Namespace, settings: Settings) -> int:
    from chatmem.services.memories import read_memories

    memories = read_memories(args.file)
    with writing(settings) as profile:
        merged = memories_of(profile).import_memories(memories, args.replace)
    print(merged.line())
    return 0
