"""Schemathesis hooks for the contract run (loaded through `SCHEMATHESIS_HOOKS`).

Each adjustment keeps the run testing what it means to, and says why. Only cases schemathesis
generated as *positive* (schema-valid) are touched: a negative case is sent as generated.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from typing import Any

import schemathesis
from schemathesis.generation.meta import StatefulPhaseData

from services.api.deps import IF_MATCH_PATTERN
from services.api.routes.trading import (
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    MAX_IDEMPOTENCY_KEY_CHARS,
)

# The id of the key the run authenticates with (set by the test that starts the run).
OWN_KEY_ID = "OM_CONTRACT_KEY_ID"
# Where each call's operation and status are written, one line each (set by the same test).
CALLS_LOG = "OM_CONTRACT_CALLS_LOG"
# A well-formed key id that no key has (ids are digests; this one is all zeros).
UNUSED_KEY_ID = "0" * 24

# Order ids for the creates that start stateful scenarios: far from the bounds the generator
# favours, and unique within the run.
_SCENARIO_ORDER_IDS = itertools.count(4_000_000_000_000_000)
_CREATE_ORDER = "POST /api/orders/{id}"

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_IF_MATCH = re.compile(IF_MATCH_PATTERN)


def _fully(pattern: re.Pattern[str], value: object, max_length: int | None = None) -> bool:
    if not isinstance(value, str) or (max_length is not None and len(value) > max_length):
        return False
    return pattern.fullmatch(value) is not None


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: Any) -> None:
    """Adjust a positive case just before it is sent (see each branch)."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    path_parameters = case.path_parameters or {}
    headers = case.headers or {}
    # The run authenticates with one key, and `GET /api/keys` shows its id, which schemathesis
    # feeds to `DELETE /api/keys/{keyId}`. Revoking it would turn every later case into a 401,
    # which the document allows, so the run would pass while testing nothing: that one id is
    # swapped for an id no key has (a 404, as for any unknown key).
    if path_parameters.get("keyId") == os.environ.get(OWN_KEY_ID):
        path_parameters["keyId"] = UNUSED_KEY_ID
    # A schema-valid trade whose `Idempotency-Key` was used before with another body is a 422 by
    # contract (a key is remembered with its first body), and which keys the generator repeats is
    # chance. So each well-formed key becomes one never used before. Reusing a key, with the same
    # body and with another, is covered by `tests/integration/test_trading_api.py`.
    if _fully(_IDEMPOTENCY_KEY, headers.get(IDEMPOTENCY_KEY_HEADER), MAX_IDEMPOTENCY_KEY_CHARS):
        headers[IDEMPOTENCY_KEY_HEADER] = uuid.uuid4().hex
    # schemathesis 4.32's coverage phase cannot draw a value for an optional header whose every
    # match needs a `"` or `*` (If-Match), and then seeds the cases it labels positive with one
    # of its negative values (`If-Match: 0`). Such a header is left out, as the operation allows;
    # the negative cases still send theirs, and the fuzzing phase draws valid lists of tags.
    if "If-Match" in headers and not _fully(_IF_MATCH, headers["If-Match"]):
        del headers["If-Match"]
    # A stateful scenario starts from a create and follows its links (read, amend, delete, quote
    # and trade this order, read the trade). The generator draws ids near their bounds, so nearly
    # every such create meets an id an earlier scenario took (a 409, documented and tested in the
    # other phases), and its links lead nowhere: a scenario's create gets an id of its own.
    in_scenario = isinstance(case.meta.phase.data, StatefulPhaseData)
    if in_scenario and case.operation.label == _CREATE_ORDER:
        path_parameters["id"] = next(_SCENARIO_ORDER_IDS)


@schemathesis.hook
def after_call(context: schemathesis.HookContext, case: schemathesis.Case, response: Any) -> None:
    """Note the call's operation and status, so the test can tell what the run reached."""
    log = os.environ.get(CALLS_LOG)
    if log:
        with open(log, "a", encoding="utf-8") as calls:
            calls.write(f"{case.operation.label}\t{response.status_code}\n")
