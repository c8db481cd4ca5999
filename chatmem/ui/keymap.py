"""The config's ``[keymap]``: remapped keys, checked at start so a clash is said, not hidden."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from textual.binding import Binding
from textual.keys import format_key

from chatmem.ui.commands import EDITOR_KEYS


def keys_of(binding: Binding, keymap: Mapping[str, str]) -> list[str]:
    """The keys that trigger ``binding`` once the keymap is applied."""
    keys = keymap.get(binding.id or "", binding.key) if binding.id else binding.key
    return [key.strip() for key in keys.split(",") if key.strip()]


def key_names(bindings: Iterable[Binding], keymap: Mapping[str, str]) -> dict[str, str]:
    """Binding id → its key as prose names it ("Ctrl+R", "F2", "Esc", "o"), keymap applied (a
    keymap entry without a key leaves the default)."""
    names = {}
    for binding in bindings:
        keys = keys_of(binding, keymap) or keys_of(binding, {})
        if binding.id and keys:
            *modifiers, key = keys[0].split("+")
            shown = format_key(key)
            if len(shown) == 1:  # a letter alone is typed as shown ("o"), with Ctrl as "Ctrl+R"
                shown = shown.upper() if modifiers else shown
            else:
                shown = shown.capitalize()
            names[binding.id] = "+".join([*(m.capitalize() for m in modifiers), shown])
    return names


def problems(
    keymap: Mapping[str, str], scopes: Mapping[str, Iterable[Binding]], editor: str = "chat"
) -> list[str]:
    """Plain-language problems: unknown ids, a remapped key that another binding of the same
    screen has, and keys the prompt editor takes for itself (in the ``editor`` scope)."""
    found: list[str] = []
    known = {b.id for bindings in scopes.values() for b in bindings if b.id}
    for binding_id in keymap:
        if binding_id not in known:
            found.append(f"[keymap] {binding_id!r} is not a binding id (F1 lists them); ignored.")
    clashes: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for scope, bindings in scopes.items():
        by_key: dict[str, list[str]] = defaultdict(list)
        for binding in bindings:
            for key in keys_of(binding, keymap):
                by_key[key].append(binding.id or binding.action)
                remapped = binding.id in keymap
                if scope == editor and remapped and key in EDITOR_KEYS and not binding.priority:
                    found.append(
                        f"[keymap] {binding.id} = {key!r}: the message editor uses {key} itself, "
                        "so it would never reach the app; choose another key."
                    )
        for key, ids in by_key.items():
            # A screen's own binding on an app key is by design (F3 closes the browser);
            # a clash counts when the keymap made it.
            if len(set(ids)) > 1 and any(i in keymap for i in ids):
                clashes[key, tuple(sorted(set(ids)))].append(scope)
    for (key, names), where in clashes.items():
        found.append(
            f"[keymap] {key} is bound to {' and '.join(names)} ({', '.join(where)}); "
            "only one of them can have it."
        )
    return list(dict.fromkeys(found))
