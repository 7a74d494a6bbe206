"""Ids that must be unique but need not be secret, drawn without a system call.

`uuid.uuid4()` and `secrets` read `os.urandom`, a system call that releases the GIL. On the
API's event-loop thread each release lets a busy worker thread (a trade group being encoded,
a read being parsed) take the GIL for up to the interpreter's switch interval before the loop
gets it back, so two such calls per trade request put every other request on the loop behind
those workers. These ids come from a per-process generator seeded from `os.urandom` once (and
again in a forked child, so parent and child never share a sequence): 122 random bits per id,
so collisions stay as unlikely as with `uuid4`. Nothing an attacker must not guess comes from
here: API key secrets, key ids and presigned URLs use `secrets` and the SDK.
"""

from __future__ import annotations

import os
import random
import uuid

_generator = random.Random()  # seeded from os.urandom
os.register_at_fork(after_in_child=_generator.seed)


def unique_hex_id() -> str:
    """A random version-4 UUID as 32 lowercase hex digits (the shape of `uuid4().hex`)."""
    return uuid.UUID(int=_generator.getrandbits(128), version=4).hex


def unique_token(bits: int = 64) -> str:
    """`bits` random bits as lowercase hex (`bits` a multiple of 4)."""
    return f"{_generator.getrandbits(bits):0{bits // 4}x}"
