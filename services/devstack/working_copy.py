"""DynamoDB Local's database worked on in RAM (tmpfs) while `om dev` runs, saved to the data folder.

Where on-disk DynamoDB Local loses its time. It keeps its tables in SQLite (sqlite4java, SQLite
3.8.7) on a single connection served by one thread, in rollback-journal mode with
`synchronous=FULL` (read from the running engine), and commits every item of a `BatchWriteItem` as
a transaction of its own. Per item it creates a journal file, writes it, fsyncs four times and
deletes it: strace counted 4.0 fsync and 1.0 unlink per item, /proc/<pid>/io 34 write calls and
50 KiB reaching the disk per item. Loads of 100k rows through `om load-job`, DynamoDB Local
variants run one after another on this 2-core machine shared with other work (so ±30 % between
runs; compare within a run):

    run  variant                                                    rows/s   in-memory, same run
    1    on disk, fsync turned into a no-op (LD_PRELOAD)            1,846    3,427
         … with 4 KiB pages                                         2,016
    2    data folder on tmpfs (no disk at all)                      2,273    3,445
         … with 4 KiB pages                                         2,516
         … with 4 KiB pages and a 100 MB page cache                 2,465
    3    on disk, `synchronous=OFF` (set inside the JVM)            2,343    3,225 / 4,065
         on disk, `synchronous=OFF`, exclusive lock, PERSIST journal 3,129
         data folder on tmpfs, 4 KiB pages                          3,141
         WAL, `synchronous=NORMAL`, exclusive lock                  3,789, but the -wal file
                                                                    reached 2.2 GB: DynamoDB
                                                                    Local never lets a checkpoint
                                                                    finish (449 MB at 20k rows)
    4    the data folder on disk, as before (20k rows)              682-864  3,016-3,707

So the time goes to syncing: without fsync a disk does as well as tmpfs, and what remains is the
cost of going through files at all (syscalls, on one thread). Nothing outside the JVM can change
the pragmas: neither DynamoDB Local nor sqlite4java reads a setting for them (their only system
properties name native-library paths), `-optimizeDbBeforeStartup` only drops unused index columns
at start, `-sharedDb` only names the file, and the JVM is the one that runs the in-memory engine.
Setting them inside the JVM (run 3 used a launcher class reaching DynamoDB Local's private queue by
reflection) needs a JDK to compile it, depends on internals, and gains nothing over tmpfs. An
in-memory engine with a snapshot was rejected too: restoring goes through `BatchWriteItem` at the
in-memory rate, about 5 minutes per million items at every start, and a SIGKILL loses the session.

The result, `bench/engine.py` (100k rows, 3 alternating rounds, one run after the merge of the API
keys; the same machine): in-memory 3,173 / 3,978 / 4,442 rows/s, this engine 2,144 / 2,917 /
2,627 (mean 66 % of in-memory; 59-73 % per round), the data folder on disk as before 438 / 480 /
795 (15 %). A restart with the 90 MiB database: stop and save 0.5 s, start on it (copy to RAM, JVM
up) 2.5 s; the copy grows with the file (~0.9 GB per million orders).

So the same SQLite files live on tmpfs (`/dev/shm`) while `om dev` runs, in a folder of this user's
keyed by the data folder's path, and new databases get 4 KiB pages (SQLite 3.8.7 would pick
1 KiB). The data folder keeps the durable copy:

* `om dev` stopped (Ctrl-C, SIGTERM): once DynamoDB Local has exited, the database is copied to a
  temporary file in the data folder, fsynced and renamed over the previous copy; the RAM copy is
  then removed.
* `om dev` or DynamoDB Local killed (SIGKILL, OOM, a crash): the RAM copy stays on tmpfs and the
  next `om dev` on that data folder recovers it, saving it to the data folder at once. A
  transaction cut in half is rolled back by SQLite's journal, which sits in RAM with it.
* Power loss, reboot: tmpfs is gone. The data folder holds what the last stop (or recovery) saved,
  whole: what was written since is lost. Before, every acknowledged write survived a power loss.
* Without `/dev/shm` (macOS), or with less room there than `room_needed`, DynamoDB Local works in
  the data folder directly, as before: slower, durable at every write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

from services.devstack.dynamodb_local import SHARED_DB_FILE

RAM_ROOT = Path("/dev/shm")
PAGE_SIZE = 4096
# A database grows while it is worked on: leave room for it to double, and for a first big load.
MIN_HEADROOM_BYTES = 1 << 30
SAVING_FILE = "om-dev-saving.db"  # ends in .db so `--fresh` recognises it as DynamoDB Local's
_MARKER_FILE = "synced-with.json"
_DB_FOLDER = "dynamodb"


class RamUnavailable(Exception):
    """The working copy cannot live in RAM here; says why (DynamoDB Local then works on disk)."""


@dataclass(frozen=True, slots=True)
class WorkingCopy:
    """A data folder's database on tmpfs: `folder` is DynamoDB Local's `-dbPath` meanwhile."""

    data_dir: Path
    root: Path
    recovered: bool = False

    @property
    def folder(self) -> Path:
        """Where DynamoDB Local works (its `-dbPath`)."""
        return self.root / _DB_FOLDER

    def save(self) -> None:
        """Write the database to the data folder, atomically, once DynamoDB Local has exited."""
        source = self.folder / SHARED_DB_FILE
        target = self.data_dir / SHARED_DB_FILE
        _settle(source)
        staging = self.data_dir / SAVING_FILE
        shutil.copyfile(source, staging)
        _fsync_file(staging)
        # A journal left beside the old copy would be replayed into the new one: it goes first.
        for stale in _companions(target):
            stale.unlink(missing_ok=True)
        os.replace(staging, target)
        _fsync_folder(self.data_dir)
        _write_marker(self.root, self.data_dir, _identity(target))

    def discard(self) -> None:
        """Free the RAM; the data folder's copy stays."""
        shutil.rmtree(self.root, ignore_errors=True)


def room_needed(database_bytes: int) -> int:
    """Free tmpfs space a working copy of a database this size needs."""
    return 2 * database_bytes + MIN_HEADROOM_BYTES


def ram_folder(data_dir: Path, ram_root: Path = RAM_ROOT) -> Path:
    """The RAM folder of `data_dir`'s working copy (one per user and data folder)."""
    key = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return ram_root / f"om-dev-{os.getuid()}" / key


def open_working_copy(data_dir: Path, *, fresh: bool, ram_root: Path = RAM_ROOT) -> WorkingCopy:
    """Place `data_dir`'s database in RAM, recovering one a killed `om dev` left there.

    Raises `RamUnavailable` when tmpfs is missing, too small, or not safely this user's. Needs the
    data folder's lock (`preflight`) and DynamoDB Local not yet running.
    """
    root = ram_folder(data_dir, ram_root)
    _check_user_folder(root.parent, ram_root)
    (data_dir / SAVING_FILE).unlink(missing_ok=True)  # a save cut short
    durable = data_dir / SHARED_DB_FILE
    if not fresh and _left_by_killed_om_dev(root, data_dir, durable):
        copy = WorkingCopy(data_dir, root, recovered=True)
        copy.save()
        return copy
    shutil.rmtree(root, ignore_errors=True)
    _settle(durable)
    size = durable.stat().st_size if durable.exists() else 0
    free = shutil.disk_usage(ram_root).free
    if free < room_needed(size):
        raise RamUnavailable(
            f"{ram_root} has {free >> 20} MiB free, a working copy of {size >> 20} MiB needs "
            f"{room_needed(size) >> 20} MiB"
        )
    copy = WorkingCopy(data_dir, root)
    copy.folder.mkdir(parents=True, mode=0o700)
    if durable.exists():
        shutil.copyfile(durable, copy.folder / SHARED_DB_FILE)
    else:
        _create_database(copy.folder / SHARED_DB_FILE)
    _write_marker(root, data_dir, _identity(durable))
    return copy


def _left_by_killed_om_dev(root: Path, data_dir: Path, durable: Path) -> bool:
    """Whether `root` holds a working copy newer than the data folder's.

    Only if the data folder is as the working copy last saw it: one that was emptied or replaced
    since (by hand, or by a DynamoDB Local run without `om dev`) wins over the RAM copy.
    """
    try:
        marker = json.loads((root / _MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        (root / _DB_FOLDER / SHARED_DB_FILE).is_file()
        and marker.get("data_dir") == str(data_dir)
        and marker.get("synced_with") == _identity(durable)
    )


def _check_user_folder(folder: Path, ram_root: Path) -> None:
    """Make `folder` (on shared tmpfs) this user's alone, or refuse it."""
    if not ram_root.is_dir():
        raise RamUnavailable(f"there is no {ram_root}")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError as error:
        raise RamUnavailable(f"cannot use {folder}: {error.strerror or error}") from error
    # Anyone may create folders on /dev/shm: one planted there for us must not be trusted.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RamUnavailable(f"{folder} is not a private folder of this user")


def _create_database(path: Path) -> None:
    """An empty SQLite database with `PAGE_SIZE` pages (fewer writes per item than 1 KiB)."""
    with contextlib.closing(sqlite3.connect(path)) as database:
        database.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        database.execute("VACUUM")  # writes the header, fixing the page size


def _settle(database: Path) -> None:
    """Roll back a transaction a killed writer left in `database`'s journal, if any."""
    if not (database.parent / f"{database.name}-journal").exists():
        return
    # SQLite replays a hot journal as soon as a connection reads the database.
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()


def _companions(database: Path) -> list[Path]:
    return [database.parent / f"{database.name}{suffix}" for suffix in ("-journal", "-wal", "-shm")]


def _identity(path: Path) -> list[int] | None:
    """What tells one version of a file from another: inode, size, modification time."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return [info.st_ino, info.st_size, info.st_mtime_ns]


def _write_marker(root: Path, data_dir: Path, synced_with: list[int] | None) -> None:
    marker = {"data_dir": str(data_dir), "synced_with": synced_with}
    staging = root / f"{_MARKER_FILE}.new"
    staging.write_text(json.dumps(marker))
    os.replace(staging, root / _MARKER_FILE)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
