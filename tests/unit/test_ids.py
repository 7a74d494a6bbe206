"""Ids drawn without a system call: uuid4's shape, and never the same sequence in two processes."""

from __future__ import annotations

import os
import re
import uuid

from shared.ids import unique_hex_id, unique_token


def test_ids_have_the_shape_of_uuid4_hex_and_do_not_repeat() -> None:
    ids = [unique_hex_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:100]:
        assert re.fullmatch(r"[0-9a-f]{32}", value)
        assert uuid.UUID(hex=value).version == 4


def test_tokens_have_the_asked_number_of_hex_digits() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", unique_token(64))
    assert re.fullmatch(r"[0-9a-f]{4}", unique_token(16))


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(writer, unique_hex_id().encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    from_child = os.read(reader, 64).decode()
    os.close(reader)
    assert from_child != unique_hex_id()
