"""Deterministic control groups: a customer's draw depends only on the seed and their id.

u = first 8 hex digits of md5("<seed>:<customer_id>") / 16**8, control iff u < share. The
draw is the same on every run and every engine with md5, and independent of the segment, so
each segment is held out at the same expected share and reruns hold out the same people.
"""

from __future__ import annotations

import hashlib


def draw(seed: str, customer_id: str) -> float:
    digest = hashlib.md5(f"{seed}:{customer_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) / 16**8


def is_control(seed: str, customer_id: str, share: float) -> bool:
    return draw(seed, customer_id) < share


def draw_sql(seed: str, column: str = "customer_id") -> str:
    """The same draw as ``draw`` in DuckDB SQL."""
    literal = seed.replace("'", "''")
    return f"(('0x' || left(md5('{literal}:' || {column}), 8))::UBIGINT / 4294967296.0)"
