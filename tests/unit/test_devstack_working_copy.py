"""The RAM working copy of DynamoDB Local's database: restore, save, recovery after a kill."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from services.devstack import working_copy as module
from services.devstack.dynamodb_local import SHARED_DB_FILE
from services.devstack.working_copy import (
    PAGE_SIZE,
    SAVING_FILE,
    RamUnavailable,
    WorkingCopy,
    open_working_copy,
    ram_folder,
)


class DiskUsage(NamedTuple):
    """What `shutil.disk_usage` returns."""

    total: int
    used: int
    free: int


class Folders(NamedTuple):
    """A data folder and a stand-in for /dev/shm."""

    data_dir: Path
    ram_root: Path


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    data_dir = tmp_path / "data" / "dynamodb"
    data_dir.mkdir(parents=True)
    ram_root = tmp_path / "shm"
    ram_root.mkdir()
    return Folders(data_dir, ram_root)


def add_rows(database: Path, *values: str) -> None:
    """What DynamoDB Local does to its file, in miniature."""
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute("CREATE TABLE IF NOT EXISTS items (value TEXT)")
        connection.executemany("INSERT INTO items VALUES (?)", [(value,) for value in values])


def rows(database: Path) -> list[str]:
    """The values in `database`, in insertion order."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return [value for (value,) in connection.execute("SELECT value FROM items ORDER BY rowid")]


def open_copy(folders: Folders, *, fresh: bool = False) -> WorkingCopy:
    return open_working_copy(folders.data_dir, fresh=fresh, ram_root=folders.ram_root)


def test_a_new_data_folder_gets_an_empty_database_with_4_kib_pages_in_ram(
    folders: Folders,
) -> None:
    copy = open_copy(folders)
    assert copy.folder.parent == ram_folder(folders.data_dir, folders.ram_root)
    assert not copy.recovered
    with contextlib.closing(sqlite3.connect(copy.folder / SHARED_DB_FILE)) as connection:
        assert connection.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
    assert list(folders.data_dir.iterdir()) == []  # nothing is written there before a save


def test_the_data_folders_database_is_worked_on_in_ram_and_saved_back(folders: Folders) -> None:
    add_rows(folders.data_dir / SHARED_DB_FILE, "kept")
    copy = open_copy(folders)
    assert rows(copy.folder / SHARED_DB_FILE) == ["kept"]
    add_rows(copy.folder / SHARED_DB_FILE, "added")
    assert rows(folders.data_dir / SHARED_DB_FILE) == ["kept"]
    copy.save()
    copy.discard()
    assert rows(folders.data_dir / SHARED_DB_FILE) == ["kept", "added"]
    assert sorted(path.name for path in folders.data_dir.iterdir()) == [SHARED_DB_FILE]
    assert not copy.root.exists()


def test_a_copy_left_by_a_killed_om_dev_is_recovered_and_saved_at_once(folders: Folders) -> None:
    add_rows(folders.data_dir / SHARED_DB_FILE, "saved")
    killed = open_copy(folders)
    add_rows(killed.folder / SHARED_DB_FILE, "written before the kill")
    # No save: om dev was SIGKILLed. The next one finds the RAM copy.
    recovered = open_copy(folders)
    assert recovered.recovered
    assert rows(recovered.folder / SHARED_DB_FILE) == ["saved", "written before the kill"]
    assert rows(folders.data_dir / SHARED_DB_FILE) == ["saved", "written before the kill"]


def test_fresh_discards_a_copy_left_in_ram(folders: Folders) -> None:
    killed = open_copy(folders)
    add_rows(killed.folder / SHARED_DB_FILE, "from the killed session")
    fresh = open_copy(folders, fresh=True)
    assert not fresh.recovered
    with contextlib.closing(sqlite3.connect(fresh.folder / SHARED_DB_FILE)) as connection:
        assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_a_data_folder_changed_since_wins_over_the_copy_in_ram(folders: Folders) -> None:
    add_rows(folders.data_dir / SHARED_DB_FILE, "old")
    killed = open_copy(folders)
    add_rows(killed.folder / SHARED_DB_FILE, "from the killed session")
    (folders.data_dir / SHARED_DB_FILE).unlink()
    add_rows(folders.data_dir / SHARED_DB_FILE, "a backup put back by hand")
    copy = open_copy(folders)
    assert not copy.recovered
    assert rows(copy.folder / SHARED_DB_FILE) == ["a backup put back by hand"]


def test_a_transaction_cut_by_a_kill_is_rolled_back_before_saving(folders: Folders) -> None:
    copy = open_copy(folders)
    database = copy.folder / SHARED_DB_FILE
    add_rows(database, "committed")
    # A writer killed mid-transaction, after its changes reached the file: a hot journal.
    killer = (
        "import os, signal, sqlite3, sys\n"
        "connection = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "connection.execute('PRAGMA cache_size = 1')\n"
        "connection.execute('BEGIN')\n"
        "connection.executemany('INSERT INTO items VALUES (?)', [('x' * 500,)] * 2000)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", killer, str(database)], check=False)
    assert (copy.folder / f"{SHARED_DB_FILE}-journal").exists()
    copy.save()
    saved = folders.data_dir / SHARED_DB_FILE
    assert rows(saved) == ["committed"]
    with contextlib.closing(sqlite3.connect(saved)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_save_cut_short_leaves_the_previous_copy_and_no_stray_file(folders: Folders) -> None:
    add_rows(folders.data_dir / SHARED_DB_FILE, "saved")
    (folders.data_dir / SAVING_FILE).write_bytes(b"half a database")
    open_copy(folders)
    assert sorted(path.name for path in folders.data_dir.iterdir()) == [SHARED_DB_FILE]
    assert rows(folders.data_dir / SHARED_DB_FILE) == ["saved"]


def test_too_little_room_in_ram_is_refused_with_the_figures(
    folders: Folders, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_rows(folders.data_dir / SHARED_DB_FILE, "kept")
    tiny = DiskUsage(total=64 << 20, used=0, free=64 << 20)  # a container's default /dev/shm
    monkeypatch.setattr(module.shutil, "disk_usage", lambda path: tiny)
    with pytest.raises(RamUnavailable, match="has 64 MiB free"):
        open_copy(folders)


def test_no_tmpfs_is_refused(folders: Folders) -> None:
    with pytest.raises(RamUnavailable, match="there is no"):
        open_working_copy(folders.data_dir, fresh=False, ram_root=folders.ram_root / "missing")


def test_a_ram_folder_others_can_reach_is_refused(folders: Folders) -> None:
    planted = folders.ram_root / f"om-dev-{os.getuid()}"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)
    with pytest.raises(RamUnavailable, match="not a private folder"):
        open_copy(folders)
