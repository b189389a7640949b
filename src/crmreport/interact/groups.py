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


# Variants: a second, independent draw u_v = md5("<seed>:variant:<customer_id>"); variant k is
# the first whose cumulative share exceeds u_v (the last takes the rest, so rounding never
# leaves anyone without one). Independent of the control draw: each variant is held out at
# the same expected share, and changing the variants never moves anyone into or out of control.
def variant_seed(seed: str) -> str:
    return f"{seed}:variant"


def pick_variant(seed: str, customer_id: str, variants: list[tuple[str, float]]) -> str:
    """The variant id for a customer from (id, share) pairs in the listed order."""
    u = draw(variant_seed(seed), customer_id)
    total = 0.0
    for ident, share in variants[:-1]:
        total += share
        if u < total:
            return ident
    return variants[-1][0]


def variant_sql(seed: str, variants: list[tuple[str, float]], column: str = "customer_id") -> str:
    """The same choice as ``pick_variant`` in DuckDB SQL."""
    if len(variants) == 1:
        return f"'{variants[0][0]}'"
    u = draw_sql(variant_seed(seed), column)
    total, whens = 0.0, []
    for ident, share in variants[:-1]:
        total += share
        whens.append(f"WHEN {u} < CAST('{total!r}' AS DOUBLE) THEN '{ident}'")
    return f"CASE {' '.join(whens)} ELSE '{variants[-1][0]}' END"
