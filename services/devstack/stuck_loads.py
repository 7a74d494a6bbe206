"""Ending a load whose job failed for good as FAILED, so that no load stays RUNNING forever.

The loader moves its own load to SUCCEEDED or FAILED, but a loader that dies (killed by a signal,
out of memory, every attempt exiting 1) or that never runs never gets that far. On AWS a rule on
Batch's "Job State Change" marks such a load FAILED (`infra/reconciler.py`); locally the
dispatcher that ran the loader does it, with a reason in the same form ("the load job failed:
…").

Only a load of that very object that has not ended is changed, in one conditional write
(`LoadRepository.fail_unless_ended`, the reconciler's condition): one the loader finished keeps its
end state and its counts.
"""

from __future__ import annotations

import logging

from shared.batch_loads import load_id_from_key
from shared.clock import Clock, utc_now
from shared.errors import LoadNotFound
from shared.repository.loads import LoadRepository

REASON_PREFIX = "the load job failed: "
log = logging.getLogger("om.dev.pipeline")


def mark_load_failed(
    loads: LoadRepository,
    *,
    upload_prefix: str,
    bucket: str,
    key: str,
    reason: str,
    clock: Clock = utc_now,
) -> bool:
    """End the load of `s3://bucket/key` FAILED with `reason` unless it has ended; True if so."""
    load_id = load_id_from_key(upload_prefix, key)
    if load_id is None:
        return False  # not an upload this flow issued: there is no load to end
    try:
        ended_now = loads.fail_unless_ended(
            load_id, bucket=bucket, key=key, reason=REASON_PREFIX + reason, at=clock()
        )
    except LoadNotFound:
        return False
    if not ended_now:
        return False
    log.warning("load %s marked FAILED: %s", load_id, reason)
    return True
