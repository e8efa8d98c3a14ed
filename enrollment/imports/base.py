"""The import engine's moving parts shared by every kind of file.

An import runs in two passes. The *check* pass streams the rows once, reads and checks every cell, and keeps a
compact draft per row; then `resolve` compares all drafts with the database in a handful of set-based queries
(chunks of ID numbers, one query for regions, one for categories). Only when the whole file is clean does the
*write* pass run, in one transaction, with simple_history's bulk helpers so every imported row has history.
"""

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.utils.translation import gettext as _

from ..idnumbers import parse_id_number
from ..models import IdentityCategory, ImportJob, Region
from ..scoping import user_can_reach_region
from .cells import CellError, check_length, is_blank, parse_choice, text
from .chunks import LOOKUP_CHUNK, PROGRESS_EVERY, WRITE_CHUNK, Progress, chunked  # noqa: F401
from .columns import CATEGORY_ALIASES, BoundColumns, Choices, Column, normalise_label
from .errors import ErrorLog

CREATE, UPDATE, SAME = "create", "update", "same"
MEMO_LIMIT = 200_000  # distinct values remembered per parser and file
_MISSING = object()


@dataclass
class Counts:
    create: int = 0
    update: int = 0
    unchanged: int = 0

    def add(self, action: str) -> None:
        if action == CREATE:
            self.create += 1
        elif action == UPDATE:
            self.update += 1
        else:
            self.unchanged += 1


class Context:
    """What every importer needs: the importing user, their reach, and reference data loaded once per file."""

    def __init__(self, user, errors: ErrorLog):
        self.user = user
        self.errors = errors
        self._reach: dict[int, bool] = {}

    @cached_property
    def regions_by_code(self) -> dict[str, Region]:
        # A few thousand rows at most (every county of the country); one query instead of one per row.
        return {region.code: region for region in Region.objects.all()}

    @cached_property
    def regions_by_id(self) -> dict[int, Region]:
        return {region.pk: region for region in self.regions_by_code.values()}

    def can_reach(self, region: Region) -> bool:
        """The one scoping rule (enrollment.scoping), cached per region for the file."""
        key = region.id  # not .pk: this runs for every row
        if key is None:
            return user_can_reach_region(self.user, region)
        reach = self._reach.get(key)
        if reach is None:
            reach = self._reach[key] = user_can_reach_region(self.user, region)
        return reach

    @cached_property
    def categories(self) -> dict[str, IdentityCategory]:
        by_label: dict[str, IdentityCategory] = {}
        all_categories = list(IdentityCategory.objects.all())
        by_code = {category.code: category for category in all_categories}
        for alias, code in CATEGORY_ALIASES.items():
            if code in by_code:
                by_label[normalise_label(alias)] = by_code[code]
        for category in all_categories:
            by_label[normalise_label(category.name)] = category
            by_label[normalise_label(category.code)] = category
        return by_label

    @cached_property
    def categories_by_id(self) -> dict[int, IdentityCategory]:
        return {category.pk: category for category in self.categories.values()}


class Row:
    """One data row being checked: typed access to its cells, with errors filed under the file's own headers.

    Called for every cell of every row (two million cells for a big roster), so the common paths avoid
    per-call closures and repeated normalisation.
    """

    __slots__ = ("bound", "cells", "errors", "index", "memo", "number", "ok")

    def __init__(self, number: int, cells: Sequence, bound: BoundColumns, errors: ErrorLog,
                 memo: dict | None = None):
        self.number = number
        self.cells = cells
        self.bound = bound
        self.index = bound.index
        self.errors = errors
        # parser → {raw cell: value or CellError}, shared by the rows of one file: years, dates and household
        # figures repeat from row to row, and the parsers are pure.
        self.memo = memo
        self.ok = True

    def raw(self, key: str):
        position = self.index.get(key)
        if position is None or position >= len(self.cells):
            return None
        return self.cells[position]

    def has(self, key: str) -> bool:
        return not is_blank(self.raw(key))

    def header(self, key: str) -> str:
        return self.bound.header[key]

    def error(self, key: str, message: str) -> None:
        self.ok = False
        self.errors.add(self.number, self.bound.header.get(key, key), message)

    def _required(self, key: str, required: bool) -> None:
        if required:
            self.error(key, _("This cell must not be empty."))

    def read(self, key: str, parse: Callable, *, required: bool = False):
        """`parse(cell)` for a non-empty cell; `parse` must be a pure module-level function (it is memoised)."""
        value = self.raw(key)
        if is_blank(value):
            self._required(key, required)
            return None
        cache = None
        if self.memo is not None:
            cache = self.memo.get(parse)
            if cache is None:
                cache = self.memo[parse] = {}
            result = cache.get(value, _MISSING)
            if result is not _MISSING:
                if result.__class__ is CellError:
                    self.error(key, result.message)
                    return None
                return result
        try:
            result = parse(value)
        except CellError as exc:
            result = exc
        if cache is not None and len(cache) < MEMO_LIMIT:
            cache[value] = result
        if result.__class__ is CellError:
            self.error(key, result.message)
            return None
        return result

    def text(self, key: str, max_length: int, *, required: bool = False) -> str:
        value = self.raw(key)
        value = value.strip() if value.__class__ is str else text(value)
        if not value:
            self._required(key, required)
            return ""
        if len(value) > max_length:
            try:
                check_length(value, max_length)
            except CellError as exc:
                self.error(key, exc.message)
            return ""
        return value

    def choice(self, key: str, choices: Choices, *, required: bool = False) -> str | None:
        value = self.text(key, 200)
        if not value:
            self._required(key, required)
            return None
        found = choices.lookup.get(value)  # most cells are already written the normalised way
        if found is not None:
            return found
        try:
            return parse_choice(value, choices)
        except CellError as exc:
            self.error(key, exc.message)
            return None

    def id_number(self, key: str = "id_number"):
        """The parsed ID (enrollment.idnumbers) or None; a 15-digit number comes back converted to 18 digits."""
        value = self.text(key, 64)
        if not value:
            self._required(key, True)
            return None
        if "*" in value:
            # An export made by a role that sees masked numbers: matching the visible digits could pick the wrong
            # person, so the row is refused.
            self.error(key, _("This ID number is masked (exported by a user who sees masked numbers); write the "
                              "full 18-digit number, or export the file again as a user who may see full numbers."))
            return None
        try:
            return parse_id_number(value)
        except ValidationError as exc:
            self.error(key, exc.messages[0])
            return None

    def region(self, ctx: Context, key: str) -> Region | None:
        """A region the user may import into, by its code; unknown and out-of-scope codes are errors."""
        code = self.text(key, 64)
        if not code:
            self._required(key, True)
            return None
        region = ctx.regions_by_code.get(code)
        if region is None:
            self.error(key, _("Unknown region code %(code)s.") % {"code": code})
            return None
        if not ctx.can_reach(region):
            self.error(key, _("Region %(region)s is outside your regions.") % {"region": region})
            return None
        return region

    def category(self, ctx: Context, key: str = "category", *, required: bool = True) -> IdentityCategory | None:
        value = self.text(key, 200)
        if not value:
            self._required(key, required)
            return None
        categories = ctx.categories
        category = categories.get(value) or categories.get(normalise_label(value))
        if category is None:
            self.error(key, _("Unknown identity category “%(value)s”; give its code or its Chinese name.")
                       % {"value": value})
        return category


class JobProgress(Progress):
    """Progress of a background import on its ImportJob row, for the admin's progress bar.

    processed_rows climbs to total_rows once while the rows are checked and once more while they are written.
    The write runs in one transaction, where an update of the job row would stay invisible until the end; on
    PostgreSQL the write-phase updates therefore go through a second, autocommitting connection.
    """

    def __init__(self, job: ImportJob):
        self.job = job
        self.total_rows = job.total_rows
        self._objects = 0
        self._done = 0
        self._last_reported = 0
        self._side = None

    def validated(self, rows: int) -> None:
        if rows - self._last_reported >= PROGRESS_EVERY:
            self._last_reported = rows
            ImportJob.objects.filter(pk=self.job.pk).update(processed_rows=min(rows, self.total_rows or rows))

    def start_writing(self, *, created: int, updated: int, objects: int) -> None:
        self._objects = objects
        self._done = 0
        self._last_reported = 0
        # The planned counts are known now; a running job with counts is in its write phase.
        ImportJob.objects.filter(pk=self.job.pk).update(
            processed_rows=0, created_count=created, updated_count=updated)
        if connection.vendor == "postgresql" and objects:
            main = connections[DEFAULT_DB_ALIAS]  # the wrapper itself, not the thread-local proxy
            self._side = type(main)(dict(main.settings_dict), main.alias)

    def written(self, objects: int) -> None:
        self._done += objects
        if not self._objects or not self.total_rows:
            return
        rows = min(self.total_rows, round(self.total_rows * self._done / self._objects))
        if rows - self._last_reported < PROGRESS_EVERY and self._done < self._objects:
            return
        self._last_reported = rows
        if self._side is None:
            ImportJob.objects.filter(pk=self.job.pk).update(processed_rows=rows)
            return
        table = ImportJob._meta.db_table  # a model constant, not user input
        sql = f'UPDATE "{table}" SET "processed_rows" = %s WHERE "id" = %s'  # noqa: S608
        # Never wait on the job row: a lock on it could only come from this very import (a deadlock nobody
        # would detect); a skipped progress update is harmless.
        with contextlib.suppress(DatabaseError), self._side.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
            cursor.execute(sql, [rows, self.job.pk])

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
            self._side = None


class Importer:
    """One kind of file. Subclasses read rows in `check_row`, compare with the database in `resolve`, and
    write in `write`; `counts` tells what the write would do, per kind of record."""

    kind: str = ""
    columns: tuple[Column, ...] = ()
    models: tuple = ()  # the models whose rows the import creates or updates, in display order

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.counts: dict[str, Counts] = {model._meta.model_name: Counts() for model in self.models}
        self.bound: BoundColumns | None = None  # set by the engine once the header row is found

    def reject(self, row_number: int, key: str, message: str) -> None:
        """An error found after the row was read (in `resolve`), filed under the file's own header."""
        self.ctx.errors.add(row_number, self.bound.header[key] if self.bound else key, message)

    def check_header(self, bound: BoundColumns, header_row: int) -> None:
        """Hook for kinds whose optional columns need a permission or each other."""

    def check_row(self, row: Row) -> None:
        raise NotImplementedError

    def resolve(self) -> None:
        raise NotImplementedError

    def write(self, writer) -> None:
        raise NotImplementedError

    @property
    def objects_to_write(self) -> int:
        return sum(c.create + c.update for c in self.counts.values())


def not_found_message() -> str:
    """The one answer for a number that is not registered *in the user's regions*, whether or not it exists
    elsewhere: import errors must not become a way to learn where someone is registered."""
    return _("No person with this ID number is registered in your regions (nor earlier in this file).")


def fetch_people(id_numbers: Iterable[str]) -> dict[str, tuple[int, int]]:
    """ID number → (person pk, region pk) for the numbers that exist, in chunked `IN` queries."""
    from ..models import Person

    found: dict[str, tuple[int, int]] = {}
    for chunk in chunked(id_numbers, LOOKUP_CHUNK):
        for pk, number, region_id in Person.objects.filter(id_number__in=chunk).values_list(
                "pk", "id_number", "region_id"):
            found[number] = (pk, region_id)
    return found


# Re-exported: importers elsewhere (claims.imports, monitoring.exchange) take the writer, the chunking and Progress
# from here with the other engine parts.
from .writer import Writer  # noqa: E402, F401
