"""The write pass: bulk inserts and updates with history, inside the import's one transaction.

Two strategies write the same rows and the same history:

- everywhere: django-simple-history's `bulk_create_with_history` / `bulk_update_with_history`;
- on PostgreSQL: COPY. The ORM path spends most of its time building model instances (ours and their historical
  twins), compiling INSERT parameters field by field and adapting them (Django 5.2 sends UNNEST arrays, which
  psycopg dumps in Python), and `bulk_update` compares every row against a CASE of the whole batch. For a
  100 000-person roster with identities that is several minutes, far from the 30 s target. COPY streams the
  same values in a fraction of the time. History rows are written exactly as simple_history's
  `bulk_history_create` writes them (history_type "+" or "~", history_date, history_user, history_change_reason
  and every tracked field), and the COPY path is only taken for models whose fields it knows how to send; any
  other model, and any other database, uses the simple_history helpers.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from types import SimpleNamespace

from django.conf import settings
from django.db import IntegrityError, connection
from django.db.models import Model
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from .chunks import PROGRESS_EVERY, WRITE_CHUNK, Progress, chunked

# Django's bulk_update compares each row with a CASE over the whole batch: keep batches small.
ORM_UPDATE_CHUNK = 200
# Field types COPY's text format receives correctly from plain Python values (str, int, Decimal, date, bool).
_COPYABLE = {
    "AutoField", "BigAutoField", "SmallAutoField", "CharField", "SlugField", "TextField", "DateField",
    "DateTimeField", "DecimalField", "IntegerField", "BigIntegerField", "SmallIntegerField",
    "PositiveIntegerField", "PositiveBigIntegerField", "PositiveSmallIntegerField", "BooleanField", "ForeignKey",
}
_HISTORY_OWN = {"history_id", "history_date", "history_change_reason", "history_type", "history_user_id"}


def _copyable(model) -> bool:
    if not hasattr(model, "history"):
        return False
    fields = list(model._meta.concrete_fields)
    if any(f.get_internal_type() not in _COPYABLE or getattr(f, "auto_now", False) or
           getattr(f, "auto_now_add", False) for f in fields):
        return False
    history = model.history.model
    tracked = {f.attname for f in history.tracked_fields}
    history_pk = history._meta.pk
    return (
        history_pk.attname == "history_id" and history_pk.get_internal_type() in ("AutoField", "BigAutoField")
        and all(f.attname in tracked or f.attname in _HISTORY_OWN for f in history._meta.concrete_fields)
        and all(f.get_internal_type() in _COPYABLE for f in history._meta.concrete_fields)
    )


def _history_order(model) -> list[str]:
    """The model's attnames in the order of its history table's columns, so a history row is the row itself
    followed by simple_history's own columns."""
    own = [f.attname for f in model._meta.concrete_fields]
    known = set(own)
    ordered = [f.attname for f in model.history.model._meta.concrete_fields if f.attname in known]
    return ordered + [name for name in own if name not in set(ordered)]


def _no_queries_during_copy(execute, sql, params, many, context):
    raise RuntimeError("An import's build function queried the database while COPY was running.")


def _current(rows: dict, pk):
    """The row checked a moment ago; gone means someone deleted it meanwhile, which the import reports as a
    conflict like any other (IntegrityError: nothing is written)."""
    if pk not in rows:
        raise IntegrityError(f"row {pk} was deleted during the import")
    return rows[pk]


def _instance(model, built):
    return built if isinstance(built, Model) else model(**built)


def _values(fields, built) -> dict:
    if isinstance(built, Model):
        return {f.attname: getattr(built, f.attname) for f in fields if not f.primary_key}
    return built


class Writer:
    """Creates and updates objects described by drafts, with history, reporting progress.

    `create(model, drafts, build)`: `build(draft)` returns {attname: value} for the fields the file sets (the
    model's defaults fill the rest), or an unsaved instance; each draft receives the new primary key as `pk`.
    `update(model, drafts, apply, fields)`: the object with primary key `draft.pk` is loaded fresh, `apply(obj,
    draft)` sets attributes on it by attname, and `fields` (names as for bulk_update) are saved.
    """

    def __init__(self, *, user, reason: str, when, progress: Progress, use_copy: bool | None = None):
        self.user = user
        self.reason = reason
        self.when = when
        self.progress = progress
        self.use_copy = connection.vendor == "postgresql" if use_copy is None else use_copy
        self.history_enabled = getattr(settings, "SIMPLE_HISTORY_ENABLED", True)
        self._temp_tables = 0

    def create(self, model, drafts: Sequence, build: Callable) -> None:
        if not drafts:
            return
        if self.use_copy and _copyable(model):
            self._copy_create(model, drafts, build)
            return
        for chunk in chunked(drafts, WRITE_CHUNK):
            objects = [_instance(model, build(draft)) for draft in chunk]
            bulk_create_with_history(
                objects, model, batch_size=WRITE_CHUNK, default_user=self.user,
                default_change_reason=self.reason, default_date=self.when)
            for draft, obj in zip(chunk, objects, strict=True):
                draft.pk = obj.pk
            self.progress.written(len(chunk))

    def update(self, model, drafts: Sequence, apply: Callable, fields: list[str]) -> None:
        if not drafts:
            return
        if self.use_copy and _copyable(model):
            self._copy_update(model, drafts, apply, fields)
            return
        for chunk in chunked(drafts, ORM_UPDATE_CHUNK):
            current = model._default_manager.in_bulk([draft.pk for draft in chunk])
            objects = []
            for draft in chunk:
                obj = _current(current, draft.pk)
                apply(obj, draft)
                objects.append(obj)
            bulk_update_with_history(
                objects, model, fields, batch_size=ORM_UPDATE_CHUNK, default_user=self.user,
                default_change_reason=self.reason, default_date=self.when)
            self.progress.written(len(chunk))

    # --- PostgreSQL: COPY ---------------------------------------------------------------------------------
    def _copy_create(self, model, drafts: Sequence, build: Callable) -> None:
        meta = model._meta
        fields = list(meta.concrete_fields)
        defaults = {f.attname: f.get_default() for f in fields if not f.primary_key}
        attnames = _history_order(model)
        pks = self._allocate_pks(model, len(drafts))
        written: list[list] = []  # the same rows again for the history

        def rows() -> Iterator[list]:
            pk_name = meta.pk.attname
            for draft, pk in zip(drafts, pks, strict=True):
                values = {**defaults, **_values(fields, build(draft)), pk_name: pk}
                draft.pk = pk
                row = [values[name] for name in attnames]
                written.append(row)
                yield row

        # Rows are built while COPY streams them, so Python and the server work at the same time. A query on
        # this connection meanwhile would wait for the COPY forever: builds must not touch the database, and
        # one that does fails at once instead of hanging.
        with connection.execute_wrapper(_no_queries_during_copy):
            self._copy_rows(meta.db_table, [meta.get_field(name).column for name in attnames], rows(), report=True)
        self._copy_history(model, attnames, written, history_type="+")

    def _copy_update(self, model, drafts: Sequence, apply: Callable, fields: list[str]) -> None:
        meta = model._meta
        attnames = _history_order(model)
        changed = [meta.get_field(name).attname for name in fields]
        table = connection.ops.quote_name(meta.db_table)
        pk_column = connection.ops.quote_name(meta.pk.column)
        self._temp_tables += 1
        temp = connection.ops.quote_name(f"import_update_{self._temp_tables}")
        columns = [meta.pk.column, *(meta.get_field(name).column for name in fields)]
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        position = {name: i for i, name in enumerate(attnames)}
        changed_positions = [position[name] for name in changed]

        # Current rows are read (and the file's values applied) before COPY starts; see _copy_create.
        updated: list[list] = []
        for chunk in chunked(drafts, WRITE_CHUNK):
            current = {row[0]: row for row in model._default_manager.filter(
                pk__in=[draft.pk for draft in chunk]).values_list(*attnames)}
            for draft in chunk:
                obj = SimpleNamespace(**dict(zip(attnames, _current(current, draft.pk), strict=True)))
                apply(obj, draft)
                updated.append([getattr(obj, name) for name in attnames])
        pk_position = position[meta.pk.attname]
        temp_rows = [[row[pk_position], *(row[i] for i in changed_positions)] for row in updated]

        with connection.cursor() as cursor:
            # Identifiers only, all from model metadata and quoted.
            cursor.execute(f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {quoted} FROM {table} WITH NO DATA")  # noqa: S608
        self._copy_rows(temp, columns, temp_rows, report=True, quote_table=False)
        assignments = ", ".join(f"{connection.ops.quote_name(c)} = t.{connection.ops.quote_name(c)}"
                                for c in columns[1:])
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET {assignments} FROM {temp} t "  # noqa: S608
                           f"WHERE {table}.{pk_column} = t.{pk_column}")
            cursor.execute(f"DROP TABLE {temp}")
        self._copy_history(model, attnames, updated, history_type="~")

    def _allocate_pks(self, model, count: int) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [connection.ops.quote_name(model._meta.db_table), model._meta.pk.column, count])
            return [row[0] for row in cursor.fetchall()]

    def _copy_history(self, model, attnames: list[str], rows: Sequence[list], *, history_type: str) -> None:
        if not self.history_enabled or not rows:
            return
        history = model.history.model
        position = {name: i for i, name in enumerate(attnames)}
        fields = [f for f in history._meta.concrete_fields if f.attname != "history_id"]
        own = {"history_date": self.when, "history_change_reason": self.reason, "history_type": history_type,
               "history_user_id": self.user.pk if self.user is not None else None}
        # Each history column is either a tracked field (by position in the row) or one of simple_history's own.
        plan = [(position[f.attname], None) if f.attname in position else (None, own[f.attname]) for f in fields]
        positions = [i for i, _constant in plan if i is not None]
        tracked = len(positions)
        # Rows in the history table's column order (see _history_order): history row = row + constants.
        as_prefix = positions == list(range(tracked)) and all(i is not None for i, _constant in plan[:tracked])
        suffix = [constant for _i, constant in plan[tracked:]]

        def history_rows() -> Iterator[list]:
            if as_prefix:
                for row in rows:
                    yield (row if len(row) == tracked else row[:tracked]) + suffix
                return
            for row in rows:
                yield [row[i] if i is not None else constant for i, constant in plan]

        self._copy_rows(history._meta.db_table, [f.column for f in fields], history_rows(), report=False)

    def _copy_rows(self, table: str, columns: list[str], rows: Iterable[list], *, report: bool,
                   quote_table: bool = True) -> None:
        name = connection.ops.quote_name(table) if quote_table else table
        sql = f"COPY {name} ({', '.join(connection.ops.quote_name(c) for c in columns)}) FROM STDIN"
        done = 0
        with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
                done += 1
                if report and done % PROGRESS_EVERY == 0:
                    self.progress.written(PROGRESS_EVERY)
        if report:
            self.progress.written(done % PROGRESS_EVERY)
