"""The local mirror of S3 → EventBridge → Batch: uploads start `om load-job` processes.

moto cannot invoke Batch targets, so `om dev` wires the closest thing it can run: the upload
bucket sends its events to EventBridge (moto), a rule with the very pattern the CDK stack deploys
(`services.loader.events`) forwards matching events to an SQS queue, and a dispatcher thread reads
the queue and starts the loader as a separate process with the same arguments the Batch job gets.
Like Batch with a retry strategy, a run that exits non-zero (worth a retry) is attempted again, up
to `attempts` times; the message is deleted when the load is done either way. Loads run one at a
time, in arrival order. The loaders are children of the dispatcher thread: their parent-death
signal fires when that thread ends, which is when `om dev` stops.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.devstack.processes import spawn, stop
from services.loader.events import load_job_command, upload_event_pattern, uploaded_object
from shared.repository.clients import make_session
from shared.settings import AwsSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("om.dev.pipeline")
QUEUE_NAME = "om-dev-uploads"
RULE_NAME = "om-dev-upload-created"


class UploadPipeline:
    """Wires the bucket's events to a queue and runs the loader for each upload."""

    def __init__(
        self,
        settings: AwsSettings,
        *,
        s3: S3Client,
        child_env: Mapping[str, str],
        log_dir: Path,
        attempts: int = 3,
    ) -> None:
        if settings.s3_endpoint_url is None:
            raise ValueError("the local pipeline needs a local S3 endpoint")
        session = make_session(settings)
        self._sqs = session.client("sqs", endpoint_url=settings.s3_endpoint_url)
        self._events = session.client("events", endpoint_url=settings.s3_endpoint_url)
        self._s3 = s3
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
        """Stop dispatching; a load in progress is stopped too (a rerun is safe)."""
        self._stopping.set()
        running = self._running
        if running is not None:
            stop(running)
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
            self._run_loader(bucket, key)
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _run_loader(self, bucket: str, key: str) -> None:
        command = load_job_command(bucket, key)
        # The console script of this very environment, so a plain `om` on PATH is not needed.
        command[0] = str(Path(sys.executable).parent / command[0])
        for attempt in range(1, self._attempts + 1):
            if self._stopping.is_set():
                return
            log_path = self._log_dir / f"load-{Path(key).stem}.log"
            print(f"upload s3://{bucket}/{key} → om load-job (attempt {attempt})", flush=True)
            with log_path.open("ab") as log_file:
                self._running = spawn(command, log=log_file, env=self._env)
                status = self._running.wait()
                self._running = None
            if status == 0:
                return
            log.warning("loader exited %s for %s", status, key)
        print(f"loader gave up on s3://{bucket}/{key}; see {self._log_dir}", flush=True)
