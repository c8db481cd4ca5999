"""``chatmem memories``: list, show, add, edit, delete, pin, export and import memories.

They open the profile directly (reads without its lock, so they work while the app runs);
fields are checked by the memory form's own rules (``chatmem.domain.browse.parse_form``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chatmem.commands.common import (
    USAGE,
    Failure,
    find,
    read_input,
    reading,
    when,
    write_output,
    writing,
)
from chatmem.domain.browse import (
    Finder,
    FormProblems,
    form_values,
    group_of,
    parse_filter,
    parse_form,
    record,
    self_renamed,
)
from chatmem.domain.memories import REQUIRED, Memory, clean_fields, make_memory
from chatmem.protocol import FORM
from chatmem.store.transfer import TransferProblem, from_json, merge, to_json

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
    return {**memory.to_doc(), "text": memory.text()}


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


def _fields(kind: str, values: dict[str, str], self_record: bool) -> dict[str, Any]:
    """Fields from text as the form takes them; every problem as "field: problem", exit 2."""
    problems: list[tuple[str, str]] = []
    try:
        fields = parse_form(kind, values, time.time())
    except FormProblems as exc:
        problems, fields = exc.problems, {}
    relation = values.get("relation", "").strip().casefold()
    if kind == "person" and (relation == "self") != self_record:
        why = "the assistant's own record keeps" if self_record else "only the assistant has"
        problems.append(("relation", f"{why} the relation 'self'."))
    if problems:
        raise Failure("\n".join(f"{key}: {problem}" for key, problem in problems), USAGE)
    return fields


def _report(verb: str, memory: Memory, as_json: bool = False) -> None:
    if as_json:
        _json(doc(memory))
    else:
        print(f"{verb} {memory.kind} {memory.id}: {memory.title}")


def add(args: argparse.Namespace, settings: Settings) -> int:
    values = {**_given(args, args.type, adding=True), REQUIRED[args.type]: args.text}
    fields = _fields(args.type, values, self_record=False)
    memory = make_memory(args.type, fields, time.time())
    with writing(settings) as profile:
        profile.memories.put(memory)
    _report("Remembered", memory, args.json)
    return 0


def edit(args: argparse.Namespace, settings: Settings) -> int:
    with writing(settings) as profile:
        before = _get(profile, args.id)
        if before.kind == "conversation":
            raise Failure("Journal entries are written from their session and are read-only.")
        given = _given(args, before.kind, adding=False)
        if not given:
            raise Failure("Say what to change: chatmem memories edit ID --FIELD VALUE …", USAGE)
        values = {**dict(form_values(before.kind, before.fields)), **given}
        fields = _fields(before.kind, values, before.is_self)
        if clean_fields(before.kind, fields) == before.fields:
            print(f"Nothing changed in {before.id}.", file=sys.stderr)
            return 0
        now = time.time()
        after = before.revised(fields, now, "user")
        profile.memories.put(after)
        event = self_renamed(before, after, now)
        if event is not None:
            profile.memories.put(event)
    _report("Updated", after, args.json)
    return 0


def remove(args: argparse.Namespace, settings: Settings) -> int:
    with writing(settings) as profile:
        memory = _get(profile, args.id)
        if memory.is_self:
            raise Failure("The assistant's own record cannot be deleted; edit it instead.")
        profile.memories.delete(memory.id)
    _report("Forgot", memory)
    return 0


def pin(args: argparse.Namespace, settings: Settings) -> int:
    pinned = args.action == "pin" and not args.off
    with writing(settings) as profile:
        memory = _get(profile, args.id)
        if memory.pinned != pinned:
            memory = replace(memory, pinned=pinned)
            profile.memories.put(memory)
    _report("Pinned" if pinned else "Unpinned", memory)
    return 0


def import_file(args: argparse.Namespace, settings: Settings) -> int:
    try:
        memories = from_json(read_input(args.file))
    except TransferProblem as exc:
        raise Failure(f"Could not import {args.file}: {exc}; nothing was imported.") from None
    with writing(settings) as profile:
        merged = merge(profile.memories, memories, overwrite=args.replace)
    print(merged.line())
    return 0
