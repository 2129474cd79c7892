"""Garbage-collector settings for the long batch loops: the worker and a replay.

Deciding a batch allocates hundreds of thousands of short-lived objects, nearly all freed by
reference counting. CPython still runs a young-generation collection every 700 net
allocations, and each one also walks the objects that survived since the last (the case
cache's too, when there is one). Collecting every 10,000 allocations instead made the ingest
processor 11% faster without the case cache and 25% faster with it (docs/benchmarks.md,
change 17); the older generations keep their defaults, so cyclic garbage is still collected,
in larger steps.

Every collection of the oldest generation walks every object that generation holds, and
after start-up that is mostly what never goes away: modules, the app, the schemas (about
117,000 objects for the worker's imports alone, 65 ms a walk). Those pauses landed inside
batches and lengthened their latency. Objects alive at the end of start-up are therefore
moved to the permanent generation, which no collection walks (`gc.freeze`); whatever the
loop itself keeps is collected as before.

A batch's own objects stay alive until it is committed, so every young collection during a
batch walks the batch so far again, and moves it into the older generations, whose
collections walk it once more. Nearly none of it is cyclic garbage (a 200,000-record replay in
batches of 100,000 left 257 unreachable objects in all). `collection_paused` therefore holds
automatic collection off while one batch is decided and committed: a replay of 200,000
records in one process took 24.3 and 23.9 s with the collector off against 34.3 and 30.5 s
with it on, at the same peak resident size (docs/benchmarks.md, change 49). Once the batch
is done the collector runs again with the allocations of the batch counted, so the next
allocation starts a collection: what cycles a batch made are freed after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

#: Net allocations between young-generation collections.
YOUNG_THRESHOLD: Final = 10_000


def tune_for_batches() -> None:
    """Collect the young generation every `YOUNG_THRESHOLD` allocations and freeze what is
    alive now (process-wide). Call it once start-up is done, just before the loop."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    gc.collect()  # start-up's own garbage is freed, not frozen
    gc.freeze()


@contextmanager
def collection_paused() -> Iterator[None]:
    """No automatic collection within (process-wide); on leaving, the collector is as it was
    before. Wrap one batch in it, never an unbounded loop: its cycles wait until it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
