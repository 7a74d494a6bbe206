"""The local dispatcher's retries, and a load whose loader fails for good ending FAILED."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from services.devstack.pipeline import UploadPipeline, describe_exit
from services.devstack.stuck_loads import mark_load_failed
from shared.batch_loads import BatchLoadService
from shared.clock import utc_now
from shared.models import BatchLoad, LoadCounts, LoadStatus
from shared.repository.loads import LoadRepository
from shared.repository.uploads import UploadStore
from tests.conftest import Store

LOADER_RUN = "loader-run-1"
"""The lease owner a loader run would have been."""
LEASE_SECONDS = 600.0
"""Longer than any test: the lease of a killed loader is still live when its load is marked."""


class Dispatcher:
    """An `UploadPipeline` whose loader is a shell command, and a load for it to run."""

    def __init__(self, store: Store, tmp_path: Path, script: str) -> None:
        self.loads = LoadRepository(store.clients.dynamodb, store.settings.table_name)
        self.runs = tmp_path / "runs"  # one line per loader run
        service = BatchLoadService(
            self.loads,
            UploadStore(store.clients.s3),
            bucket=store.settings.bucket_name,
            upload_prefix=store.settings.upload_prefix,
            url_lifetime=timedelta(minutes=15),
        )
        self.load, _ = service.start("dev")
        self.pipeline = UploadPipeline(
            # Its queue and rule are not used here: uploads are handed to run_loader directly.
            store.settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9"}),
            s3=store.clients.s3,
            loads=self.loads,
            child_env=os.environ,
            log_dir=tmp_path,
            attempts=3,
            # `$0` in the script is the run log.
            loader_command=lambda bucket, key: [
                "sh",
                "-c",
                f'echo run >> "$0"; {script}',
                str(self.runs),
            ],
        )

    def run(self) -> BatchLoad:
        """Hand the load's upload to the dispatcher; the load as it ends up."""
        self.pipeline.run_loader(self.load.bucket, self.load.object_key)
        return self.loads.get(self.load.id)

    def run_count(self) -> int:
        """How many times the loader was started."""
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0


def test_a_loader_killed_on_every_attempt_ends_its_load_failed_with_the_reason(
    store: Store, tmp_path: Path
) -> None:
    dispatcher = Dispatcher(store, tmp_path, "kill -9 $$")
    # What a real loader leaves behind when killed: its lease, still live, and its progress.
    loads, load_id = dispatcher.loads, dispatcher.load.id
    loads.start(load_id, utc_now(), owner=LOADER_RUN, lease_seconds=LEASE_SECONDS)
    progress = LoadCounts(read=40, loaded=38, rejected=2)
    loads.renew(
        load_id, owner=LOADER_RUN, at=utc_now(), lease_seconds=LEASE_SECONDS, counts=progress
    )
    ended = dispatcher.run()
    assert dispatcher.run_count() == 3
    assert ended.status is LoadStatus.FAILED
    assert ended.reason == "the load job failed: killed by SIGKILL after 3 attempts"
    assert ended.finished_at is not None
    assert ended.counts == progress  # progress is kept


def test_a_load_whose_loader_never_started_it_ends_failed_too(store: Store, tmp_path: Path) -> None:
    dispatcher = Dispatcher(store, tmp_path, "exit 1")
    ended = dispatcher.run()
    assert dispatcher.run_count() == 3
    assert ended.status is LoadStatus.FAILED
    assert ended.reason == "the load job failed: exit status 1 after 3 attempts"


def test_a_loader_that_succeeds_on_a_retry_leaves_the_load_to_it(
    store: Store, tmp_path: Path
) -> None:
    dispatcher = Dispatcher(store, tmp_path, '[ "$(wc -l < "$0")" -ge 2 ]')  # fails once
    ended = dispatcher.run()
    assert dispatcher.run_count() == 2
    assert ended.status is LoadStatus.PENDING  # the stand-in loader writes no status
    assert ended.reason is None


@pytest.mark.parametrize("end_state", [LoadStatus.SUCCEEDED, LoadStatus.FAILED])
def test_a_load_the_loader_ended_keeps_its_end_state(
    store: Store, tmp_path: Path, end_state: LoadStatus
) -> None:
    dispatcher = Dispatcher(store, tmp_path, "exit 1")
    reason = "not UTF-8" if end_state is LoadStatus.FAILED else None
    counts = LoadCounts(read=3, loaded=3, rejected=0)
    loads, load_id = dispatcher.loads, dispatcher.load.id
    loads.start(load_id, utc_now(), owner=LOADER_RUN, lease_seconds=LEASE_SECONDS)
    loads.finish(
        load_id, owner=LOADER_RUN, status=end_state, at=utc_now(), counts=counts, reason=reason
    )
    ended = dispatcher.run()
    assert (ended.status, ended.reason, ended.counts) == (end_state, reason, counts)


def test_stopping_om_dev_mid_load_stops_the_loader_and_ends_its_load_failed(
    store: Store, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    dispatcher = Dispatcher(store, tmp_path, f"touch {started}; exec sleep 60")
    outcome: list[BatchLoad] = []
    runner = threading.Thread(target=lambda: outcome.append(dispatcher.run()))
    runner.start()
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline, "the loader never started"
        time.sleep(0.02)
    dispatcher.pipeline.close()
    runner.join(timeout=30)
    [ended] = outcome
    assert dispatcher.run_count() == 1
    assert ended.status is LoadStatus.FAILED
    assert ended.reason == "the load job failed: om dev stopped it during attempt 1 of 3"


def test_only_a_load_of_that_very_upload_is_ended(store: Store, tmp_path: Path) -> None:
    dispatcher = Dispatcher(store, tmp_path, "exit 1")
    load = dispatcher.load

    def mark(bucket: str, key: str) -> bool:
        return mark_load_failed(
            dispatcher.loads, upload_prefix="uploads/", bucket=bucket, key=key, reason="x"
        )

    assert not mark("another-bucket", load.object_key)
    assert not mark(load.bucket, "reports/not-an-upload.csv")
    assert not mark(load.bucket, "uploads/" + "0" * 32 + ".csv")  # no such load
    assert dispatcher.loads.get(load.id).status is LoadStatus.PENDING
    assert mark(load.bucket, load.object_key)
    assert dispatcher.loads.get(load.id).reason == "the load job failed: x"
    assert not mark(load.bucket, load.object_key)  # it has ended now


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (0, "exit status 0"),
        (1, "exit status 1"),
        (-9, "killed by SIGKILL"),
        (-200, "killed by signal 200"),
    ],
)
def test_an_exit_status_is_described_in_words(status: int, words: str) -> None:
    assert describe_exit(status) == words
