"""What a broken store looks like: a profile another chatmem holds, a full disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatmem.store.profile import Profile
from tests.disks import fill, small_disk
from tests.harness import make_app, settle
from tests.seed import seed
from tests.test_snapshots import send

pytestmark = pytest.mark.xdist_group("snapshots")  # one at a time: a fixed port, see conftest

SIZE = (100, 32)


def test_a_locked_profile_opened(snap_compare, snap_settings):
    seed(snap_settings)
    with Profile.open(Path(snap_settings.data_dir), "default"):  # another chatmem has it
        app = make_app(snap_settings)
        assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_a_locked_profile_shown_read_only(snap_compare, snap_settings):
    seed(snap_settings)
    with Profile.open(Path(snap_settings.data_dir), "default"):  # another chatmem has it
        app = make_app(snap_settings)
        assert snap_compare(app, terminal_size=SIZE, run_before=send("Typed while it is locked"))


def test_a_full_disk_keeps_the_message(snap_compare, snap_settings):
    with small_disk(Path("data")) as disk:
        seed(snap_settings)
        fill(disk)
        app = make_app(snap_settings)
        assert snap_compare(app, terminal_size=SIZE, run_before=send("A message worth keeping"))
