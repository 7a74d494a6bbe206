"""The local mirror of S3 → EventBridge → Batch: uploads start `om load-job` processes.

moto cannot invoke Batch targets, so `om dev` wires the closest thing it can run: the upload
bucket sends its events to EventBridge (moto), a rule with the very pattern the CDK stack deploys
(`services.loader.events`) forwards matching events to an SQS queue, and a dispatcher thread reads
the queue and starts the loader as a separate process with the same arguments the Batch job gets.
Like Batch with a retry strategy, a run that exits non-zero (worth a retry) or is killed by a
signal is attempted again, up to `attempts` times; the message is deleted when the load is done
either way. When the loader fails for good — every attempt failed, or `om dev` stopped before it
could finish — the dispatcher marks the load FAILED with the reason (`stuck_loads`), as the rule on
Batch's job state changes does on AWS, so no load stays RUNNING forever. Loads run one at a time,
in arrival order. The loaders are children of the dispatcher thread: their parent-death signal
fires when that thread ends, which is when `om dev` stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.devstack.errors import StackError
from services.devstack.processes import spawn, stop
from services.devstack.stuck_loads import mark_load_failed
from services.loader.events import load_job_command, upload_event_pattern, uploaded_object
from shared.repository.clients import make_session
from shared.repository.loads import LoadRepository
from shared.settings import AwsSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from services.api.settings import ApiSettings

log = logging.getLogger("om.dev.pipeline")
QUEUE_NAME = "om-dev-uploads"
RULE_NAME = "om-dev-upload-created"
LoaderCommand = Callable[[str, str], Sequence[str]]


def local_load_job_command(bucket: str, key: str) -> list[str]:
    """`om load-job --bucket B --key K` with this very environment's console script."""
    command = load_job_command(bucket, key)
    # The console script of this very environment, so a plain `om` on PATH is not needed.
    command[0] = str(Path(sys.executable).parent / command[0])
    return command


def describe_exit(status: int) -> str:
    """A child's exit status in words: `exit status 1`, `killed by SIGKILL`."""
    if status >= 0:
        return f"exit status {status}"
    try:
        return f"killed by {signal.Signals(-status).name}"
    except ValueError:
        return f"killed by signal {-status}"


class UploadPipeline:
    """Wires the bucket's events to a queue and runs the loader for each upload."""

    def __init__(
        self,
        settings: AwsSettings,
        *,
        s3: S3Client,
        loads: LoadRepository,
        child_env: Mapping[str, str],
        log_dir: Path,
        attempts: int = 3,
        loader_command: LoaderCommand = local_load_job_command,
    ) -> None:
        if settings.s3_endpoint_url is None:
            raise ValueError("the local pipeline needs a local S3 endpoint")
        session = make_session(settings)
        self._sqs = session.client("sqs", endpoint_url=settings.s3_endpoint_url)
        self._events = session.client("events", endpoint_url=settings.s3_endpoint_url)
        self._s3 = s3
        self._loads = loads
        self._loader_command = loader_command
        self._settings = settings
        self._env = dict(child_env)
        self._log_dir = log_dir
        self._attempts = attempts
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._dispatch, name="upload-dispatcher", daemon=True
        )
        self._running: subprocess.Popen[bytes] | None = None
        self._queue_url = ""

    def install(self) -> None:
        """Bucket notifications on, the rule, and the queue it targets."""
        self._queue_url = self._sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self._s3.put_bucket_notification_configuration(
            Bucket=self._settings.bucket_name,
            NotificationConfiguration={"EventBridgeConfiguration": {}},
        )
        pattern = upload_event_pattern(self._settings.bucket_name, self._settings.upload_prefix)
        self._events.put_rule(Name=RULE_NAME, EventPattern=json.dumps(pattern), State="ENABLED")
        self._events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "loader", "Arn": queue_arn}])

    def start(self) -> None:
        """Begin dispatching uploads."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def close(self) -> None:
        """Stop dispatching; a load in progress is stopped too, and its load marked FAILED."""
        self._stopping.set()
        running = self._running
        if running is not None:
            stop(running)
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
                ).get("Messages", [])
            except Exception:  # the emulator going away on shutdown must not kill the thread
                if self._stopping.wait(1):
                    return
                log.exception("could not read the upload queue")
                continue
            for message in messages:
                self._handle(message)

    def _handle(self, message: Mapping[str, Any]) -> None:
        try:
            bucket, key = uploaded_object(json.loads(message.get("Body", "")))
        except ValueError:
            log.warning("dropped a message that is not an upload event")
        else:
            self.run_loader(bucket, key)
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def run_loader(self, bucket: str, key: str) -> None:
        """Load one upload, retrying; mark its load FAILED if the loader fails for good."""
        reason = self._attempt(bucket, key)
        if reason is None:
            return
        print(f"loader gave up on s3://{bucket}/{key}: {reason}; see {self._log_dir}", flush=True)
        try:
            mark_load_failed(
                self._loads,
                upload_prefix=self._settings.upload_prefix,
                bucket=bucket,
                key=key,
                reason=reason,
            )
        except Exception:  # the store failing too must not end the dispatcher
            log.exception("could not mark the load of %s FAILED", key)

    def _attempt(self, bucket: str, key: str) -> str | None:
        """Run the loader until it exits 0 (None), or say why it never will."""
        command = self._loader_command(bucket, key)
        log_path = self._log_dir / f"load-{Path(key).stem}.log"
        status = 0
        for attempt in range(1, self._attempts + 1):
            if self._stopping.is_set() and attempt == 1:
                return "om dev stopped before it ran"
            if self._stopping.is_set():
                return f"om dev stopped after {attempt - 1} of {self._attempts} attempts"
            print(f"upload s3://{bucket}/{key} → om load-job (attempt {attempt})", flush=True)
            with log_path.open("ab") as log_file:
                self._running = spawn(command, log=log_file, env=self._env)
                status = self._running.wait()
                self._running = None
            if status == 0:
                return None
            if self._stopping.is_set():
                return f"om dev stopped it during attempt {attempt} of {self._attempts}"
            log.warning("loader %s for %s", describe_exit(status), key)
        plural = "s" if self._attempts > 1 else ""
        return f"{describe_exit(status)} after {self._attempts} attempt{plural}"


def start_upload_pipeline(
    settings: ApiSettings, logs_dir: Path, resources: contextlib.ExitStack
) -> None:
    """Uploads under the prefix start `om load-job` processes, as S3 → EventBridge → Batch does."""
    from shared.repository import make_clients

    clients = make_clients(settings)
    pipeline = UploadPipeline(
        settings,
        s3=clients.s3,
        loads=LoadRepository(clients.dynamodb, settings.table_name),
        child_env=os.environ,  # already pointed at the local endpoints by export_environment
        log_dir=logs_dir / "loads",
    )
    try:
        pipeline.install()
    except Exception as error:  # botocore's errors cannot be named outside shared.repository
        raise StackError(f"cannot wire the upload pipeline: {error}") from error
    pipeline.start()
    resources.callback(pipeline.close)
