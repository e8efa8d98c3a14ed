"""Keyset (seek) pagination for the queues: every page costs the same, whatever its depth (issue 10 §5).

A page is "the ``per_page`` rows after (or before) this row's key" in the queue's order — ``(due date, received
on, id)``, due dates ascending with undated (paused, exempted) rows last — instead of ``OFFSET n``, which makes
PostgreSQL read and throw away every row before the page (0.6–0.7 s at the 30 000th row of a prefecture's queue,
bench/README.md). The key of a row is unique (it ends with the id), so ties on the due date or the received date
are broken the same way on every page, and a row inserted meanwhile never shifts or repeats the rows of the next
page: links carry the key of the last (or first) row shown, not a position.

The first column may be NULL (an undated row). A row comparison never matches NULL, so the order is read as two
groups — dated rows by ``(due, received, id)``, then undated rows by ``(received, id)`` — each one an index range
(``case_open_due_order`` holds both); a page that spans the boundary reads both, so at most two queries a page.

Going to page N by number, and to the last page, needs a position. The last page is read backwards, so it costs
what the first page costs. For page N the key of the row just before it is found from the queue's *histogram*
(rows per value of the first two key columns — per due date and received date, a few hundred groups —, one
aggregate cached with the tab counts): the group holding that position, then an OFFSET within that one group,
an index range. Without a histogram the key is read with OFFSET over the key columns from the nearer end, which
costs in proportion to the depth (bench/README.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db.models import BooleanField, Count, F, Func, QuerySet, Value

__all__ = ["InvalidCursor", "KeyColumn", "KeysetPage", "KeysetPaginator"]

CURSOR_SEPARATOR = "_"


class InvalidCursor(ValueError):
    """A page link whose key cannot be read (edited by hand, or of another queue)."""


@dataclass(frozen=True)
class KeyColumn:
    """One column of the order: a field or annotation name, how its value is read back from a link, and whether
    it may be NULL (only the first column may: NULLs sort last, as in the index)."""

    name: str
    parse: Callable[[str], object]
    nullable: bool = False


def _row(columns: Sequence, values: Sequence, op: str, model_field_of: Callable) -> Func:
    """``(a, b, c) > (x, y, z)``: one index range condition on PostgreSQL (and on SQLite ≥ 3.15)."""
    left = Func(*[F(column.name) for column in columns], template="(%(expressions)s)")
    right = Func(*[Value(value, output_field=model_field_of(column)) for column, value in
                   zip(columns, values, strict=True)], template="(%(expressions)s)")
    return Func(left, right, template="%(expressions)s", arg_joiner=f" {op} ", output_field=BooleanField())


@dataclass
class KeysetPage:
    """One page of rows, with the keys that link to its neighbours. ``number`` is the page's position when it is
    known (a jump by number, the first page, or carried along by the links); ``None`` otherwise."""

    object_list: list
    number: int | None
    has_previous: bool
    has_next: bool
    is_first: bool
    is_last: bool
    first_key: str | None = None
    last_key: str | None = None

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)


class KeysetPaginator:
    """Pages of ``queryset`` in the order of ``columns`` (ascending; the last column unique, e.g. ``pk``).

    ``count`` — the queue's row count when it is exact, else None — numbers the pages and sends "go to page N"
    from the nearer end. Every method returns a :class:`KeysetPage`.
    """

    def __init__(self, queryset: QuerySet, per_page: int, columns: Sequence[KeyColumn], *, count: int | None = None,
                 histogram: Callable[[QuerySet], list] | None = None):
        if any(column.nullable for column in columns[1:]):
            raise ValueError("only the first key column may be NULL")
        if histogram is not None and len(columns) != 3:
            raise ValueError("a histogram groups by the first two of three key columns")
        self.queryset = queryset
        self.per_page = per_page
        self.columns = list(columns)
        self.count = count
        self.histogram = histogram

    # --- numbering ------------------------------------------------------------------------------------------------

    @property
    def num_pages(self) -> int | None:
        if self.count is None:
            return None
        return max(1, -(-self.count // self.per_page))

    # --- keys -----------------------------------------------------------------------------------------------------

    def key_of(self, row) -> tuple:
        return tuple(getattr(row, column.name) for column in self.columns)

    def encode(self, key: tuple) -> str:
        def text(value):
            if value is None:
                return ""
            return value.isoformat() if isinstance(value, dt.date) else str(value)

        return CURSOR_SEPARATOR.join(text(value) for value in key)

    def decode(self, cursor: str) -> tuple:
        parts = cursor.split(CURSOR_SEPARATOR)
        if len(parts) != len(self.columns):
            raise InvalidCursor(cursor)
        key = []
        for column, part in zip(self.columns, parts, strict=True):
            if part == "":
                if not column.nullable:
                    raise InvalidCursor(cursor)
                key.append(None)
                continue
            try:
                key.append(column.parse(part))
            except (TypeError, ValueError) as error:
                raise InvalidCursor(cursor) from error
        return tuple(key)

    # --- the two groups of the order ------------------------------------------------------------------------------

    def _field_of(self, column: KeyColumn):
        """The model field (or annotation's field) of a key column: it adapts the link's value for the database."""
        if column.name == "pk":
            return self.queryset.model._meta.pk
        annotation = self.queryset.query.annotations.get(column.name)
        if annotation is not None:
            return annotation.output_field
        return self.queryset.model._meta.get_field(column.name)

    def _groups(self) -> list[tuple[QuerySet, list[KeyColumn]]]:
        """(queryset, its order columns) per group, in ascending order: dated rows, then undated ones."""
        first = self.columns[0]
        if not first.nullable:
            return [(self.queryset, self.columns)]
        return [(self.queryset.filter(**{f"{first.name}__isnull": False}), self.columns),
                (self.queryset.filter(**{f"{first.name}__isnull": True}), self.columns[1:])]

    def _ordered(self, queryset: QuerySet, columns, *, descending: bool) -> QuerySet:
        return queryset.order_by(*[F(c.name).desc() if descending else F(c.name).asc() for c in columns])

    def _group_of(self, key: tuple) -> int:
        return 1 if (self.columns[0].nullable and key[0] is None) else 0

    def _seek(self, key: tuple | None, limit: int, *, descending: bool) -> list:
        """Up to ``limit`` rows strictly after ``key`` (before it, ``descending``), from the queue's start (end)."""
        groups = self._groups()
        order = list(range(len(groups)))
        if descending:
            order.reverse()
        start = 0 if key is None else order.index(self._group_of(key))
        rows: list = []
        for position in order[start:]:
            queryset, columns = groups[position]
            if key is not None and position == self._group_of(key):
                values = key[len(self.columns) - len(columns):]
                queryset = queryset.filter(_row(columns, values, "<" if descending else ">", self._field_of))
            rows += list(self._ordered(queryset, columns, descending=descending)[: limit - len(rows)])
            if len(rows) >= limit:
                break
        return rows

    def _key_at(self, position: int, *, from_end: bool) -> tuple | None:
        """The key of the row at ``position`` (0-based) from the start (end): a slim query, key columns only."""
        # One ORDER BY over both groups (NULLs last ascending, first descending: the index's own order).
        order = [F(c.name).desc(nulls_first=True) if from_end else F(c.name).asc(nulls_last=True)
                 for c in self.columns]
        found = list(self.queryset.order_by(*order).values_list(*[c.name for c in self.columns])
                     [position:position + 1])
        return tuple(found[0]) if found else None

    def groups(self) -> list[tuple[object, object, int]]:
        """The histogram: ``(first, second, rows)`` per value of the first two key columns, in the queue's order.
        One aggregate over the queue (what a cached ``histogram`` callable is given to compute)."""
        first, second = self.columns[0].name, self.columns[1].name
        rows = (self.queryset.order_by().values_list(first, second).annotate(rows=Count("*"))
                .order_by(F(first).asc(nulls_last=True), F(second).asc()))
        return [tuple(row) for row in rows]

    def _key_from_histogram(self, position: int) -> tuple | None:
        """The key at ``position`` (0-based): the group holding it from the histogram, then an OFFSET within it."""
        before = 0
        for first, second, rows in self.histogram(self):
            if position < before + rows:
                group = self.queryset.filter(**{
                    (f"{self.columns[0].name}__isnull" if first is None else self.columns[0].name):
                        True if first is None else first,
                    self.columns[1].name: second})
                found = list(group.order_by(F(self.columns[2].name).asc()).values_list(
                    *[c.name for c in self.columns])[position - before:position - before + 1])
                return tuple(found[0]) if found else None  # None: the group shrank since it was counted
            before += rows
        return None

    # --- pages ----------------------------------------------------------------------------------------------------

    def _page(self, rows: list, *, number, more_before: bool, more_after: bool) -> KeysetPage:
        return KeysetPage(
            object_list=rows, number=number, has_previous=more_before, has_next=more_after,
            is_first=not more_before, is_last=not more_after,
            first_key=self.encode(self.key_of(rows[0])) if rows else None,
            last_key=self.encode(self.key_of(rows[-1])) if rows else None)

    def first(self) -> KeysetPage:
        rows = self._seek(None, self.per_page + 1, descending=False)
        return self._page(rows[: self.per_page], number=1, more_before=False, more_after=len(rows) > self.per_page)

    def after(self, cursor: str, *, number: int | None = None) -> KeysetPage:
        rows = self._seek(self.decode(cursor), self.per_page + 1, descending=False)
        if not rows:  # the rows after the key went away meanwhile: show the end of the queue
            return self.last()
        # There is a row before this page: the one whose key the link carried (or, if it went, whatever preceded it).
        return self._page(rows[: self.per_page], number=number, more_before=True,
                          more_after=len(rows) > self.per_page)

    def before(self, cursor: str, *, number: int | None = None) -> KeysetPage:
        rows = self._seek(self.decode(cursor), self.per_page + 1, descending=True)
        if len(rows) <= self.per_page:  # reached the start: the first page, full, whatever the link said
            return self.first()
        rows = rows[: self.per_page]
        rows.reverse()
        return self._page(rows, number=number, more_before=True, more_after=True)

    def last(self) -> KeysetPage:
        """The last page, read backwards from the end. With an exact count it holds what page ``num_pages`` holds
        (the remainder), so its "previous" link leads to exactly page ``num_pages - 1``."""
        size = self.per_page
        if self.count is not None and self.count:
            size = self.count - (self.num_pages - 1) * self.per_page
        rows = self._seek(None, size + 1, descending=True)
        more_before = len(rows) > size
        rows = rows[:size]
        rows.reverse()
        return self._page(rows, number=self.num_pages, more_before=more_before, more_after=False)

    def page(self, number: int) -> KeysetPage:
        """Page ``number`` (1-based) by position: the key of the row just before it is read from the nearer end."""
        if number <= 1:
            return self.first()
        if self.num_pages is not None and number >= self.num_pages:
            return self.last()
        before_first = (number - 1) * self.per_page - 1  # position of the row just before the page
        key = self._key_from_histogram(before_first) if self.histogram is not None else None
        if key is None and self.count is not None and before_first > self.count // 2:
            key = self._key_at(self.count - 1 - before_first, from_end=True)
        elif key is None:
            key = self._key_at(before_first, from_end=False)
        if key is None:  # past the end (an unknown count, or rows went away meanwhile)
            return self.last()
        rows = self._seek(key, self.per_page + 1, descending=False)
        if not rows:
            return self.last()
        return self._page(rows[: self.per_page], number=number, more_before=True,
                          more_after=len(rows) > self.per_page)
