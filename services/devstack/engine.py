"""Which engine serves DynamoDB: resolving `--engine auto`, and the notice the moto fallback prints.

DynamoDB runs on AWS's own DynamoDB Local whenever Java is there (`--engine auto`); the jar is
fetched into a cache on first use (`dynamodb_local.ensure_emulator`). Without Java (or when the jar
cannot be fetched) `auto` falls back to moto's DynamoDB with a printed notice: in memory only, and
serialized, because moto loses acknowledged writes under concurrent requests. `--engine` forces
either; forcing DynamoDB Local where it cannot run is an error (exit 2), never a silent fallback.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from services.devstack.dynamodb_local import (
    JAR_NAME,
    NPM_VERSION,
    DynamoDBLocalUnavailable,
    default_cache_dir,
    ensure_emulator,
    find_java,
)
from services.devstack.errors import StackError
from services.devstack.options import Engine


@dataclass(frozen=True, slots=True)
class EngineChoice:
    """The engine that will serve DynamoDB, and the notice to print if it is the fallback."""

    engine: Engine
    notice: str | None = None


def moto_notice(reason: str, remedy: str | None = None) -> str:
    """The notice printed when DynamoDB runs on moto: why, what it costs, how to avoid it."""
    lines = [
        f"notice: DynamoDB runs on moto ({reason}).",
        "  Its data lives in memory only: it is gone when om dev stops.",
        "  It handles one request at a time: moto's DynamoDB loses acknowledged writes under "
        "concurrent requests.",
    ]
    if remedy:
        lines.append(f"  {remedy}")
    return "\n".join(lines)


def choose_engine(requested: Engine) -> EngineChoice:
    """Resolve `auto`; raise `StackError` (exit 2) if DynamoDB Local was demanded but cannot run."""
    if requested is Engine.MOTO:
        return EngineChoice(Engine.MOTO, moto_notice("--engine moto"))
    if find_java() is None:
        if requested is Engine.DYNAMODB_LOCAL:
            raise StackError(
                "--engine dynamodb-local needs Java 17+, and `java` was not found: "
                "install Java (or set JAVA_HOME), or use --engine moto",
                exit_code=2,
            )
        return EngineChoice(
            Engine.MOTO,
            moto_notice(
                "Java was not found",
                "Install Java 17+ (or set JAVA_HOME) to get AWS's DynamoDB Local instead, "
                "which keeps its data under --data-dir.",
            ),
        )
    if _emulator_needs_fetch():
        print(
            f"om dev: fetching DynamoDB Local into {default_cache_dir()} (first use only)...",
            file=sys.stderr,
            flush=True,
        )
    try:
        ensure_emulator()
    except DynamoDBLocalUnavailable as error:
        if requested is Engine.DYNAMODB_LOCAL:
            raise StackError(f"DynamoDB Local is unavailable: {error}", exit_code=2) from error
        return EngineChoice(
            Engine.MOTO,
            moto_notice(
                f"DynamoDB Local is unavailable: {error}",
                "Fix that to get AWS's DynamoDB Local, which keeps its data under --data-dir.",
            ),
        )
    return EngineChoice(Engine.DYNAMODB_LOCAL)


def _emulator_needs_fetch() -> bool:
    # Mirrors ensure_emulator's cache layout, only to explain why the first start is slow.
    if os.environ.get("OM_DYNAMODB_LOCAL_DIR"):
        return False
    return not (default_cache_dir() / "dynamodb-local" / NPM_VERSION / JAR_NAME).is_file()
