"""Pausing Python's cyclic garbage collector around work that builds many small, acyclic objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """A big import or a county's figures make hundreds of thousands of small acyclic objects (rows, Decimals,
    dataclasses) that the cyclic collector would rescan again and again as they pile up (measured: 10–20 % of an
    import's check pass, a third of `household_burden`'s Python time). Reference counting still frees everything;
    the collector resumes, and catches up, when the block ends — as it was: a caller that had it off keeps it off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
