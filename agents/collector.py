"""Garbage-collector settings for the long batch loops: the worker and a replay.

Deciding a batch allocates hundreds of thousands of short-lived objects, nearly all freed by
reference counting. CPython still runs a young-generation collection every 700 net
allocations, and each one also walks the objects that survived since the last (the case
cache's too, when there is one). Collecting every 10,000 allocations instead made the ingest
processor 11% faster without the case cache and 25% faster with it (docs/benchmarks.md,
change 17); the older generations keep their defaults, so cyclic garbage is still collected,
in larger steps.
"""

from __future__ import annotations

import gc
from typing import Final

#: Net allocations between young-generation collections.
YOUNG_THRESHOLD: Final = 10_000


def tune_for_batches() -> None:
    """Collect the young generation every `YOUNG_THRESHOLD` allocations (process-wide)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
