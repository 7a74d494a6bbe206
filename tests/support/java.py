"""The one check that DynamoDB Local can run here."""

from __future__ import annotations

import os

import pytest

from services.devstack.dynamodb_local import find_java


def require_java() -> None:
    """Skip without Java 17+ on a developer's machine; fail under CI, which installs it, so a
    CI run never silently tests less."""
    if find_java() is not None:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail("DynamoDB Local needs Java 17+; CI must install it (.ci/run does)")
    pytest.skip("DynamoDB Local needs Java 17+, and `java` is not installed here")
