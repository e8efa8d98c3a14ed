"""How an import is cut into steps: the chunk sizes, the chunking, and the progress reported step by step.

Its own module because both the check pass (base) and the write pass (writer) pace themselves by it, and base
hands the writer on to the importers: kept in base, the two would import each other.
"""

from collections.abc import Iterable, Iterator
from itertools import islice

# Rows per query when looking records up by key, and objects per bulk statement: small enough for SQLite's
# parameter limit and a modest memory peak, large enough that round trips do not dominate.
LOOKUP_CHUNK = 5000
WRITE_CHUNK = 2000
PROGRESS_EVERY = 1000


def chunked(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Progress:
    """How far an import has come. This base reports nothing (command line, dry runs)."""

    def validated(self, rows: int) -> None:
        pass

    def start_writing(self, *, created: int, updated: int, objects: int) -> None:
        pass

    def written(self, objects: int) -> None:
        pass

    def close(self) -> None:
        pass
