"""Import services: run an import (dry or real), and move an ImportJob through upload → check → import.

All-or-nothing: a file with any error writes nothing; a clean file is written in one transaction, and a job's
outcome is committed in that same transaction, so a crash leaves either everything (and "done") or nothing.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl.utils import get_column_letter

from ..controlchars import CONTROL_CHARACTERS, describe, find_control_character
from ..gc_pause import cyclic_gc_paused
from ..idnumbers import mask_numbers_in_text
from ..models import ImportJob
from ..models.imports import ImportKind, ImportStatus
from ..task_queue import start_after_commit
from .base import Context, Counts, Importer, JobProgress, Progress, Row
from .columns import PERMISSIONS, bind_headers, looks_like_header
from .enrollments import EnrollmentsImporter
from .errors import ErrorLog, RowError
from .identities import IdentitiesImporter
from .readers import UnreadableFile, estimate_data_rows, open_table
from .regions import RegionsImporter
from .roster import RosterImporter
from .writer import Writer

IMPORTERS: dict[str, type[Importer]] = {
    ImportKind.REGIONS: RegionsImporter,
    ImportKind.ROSTER: RosterImporter,
    ImportKind.IDENTITIES: IdentitiesImporter,
    ImportKind.ENROLLMENTS: EnrollmentsImporter,
}
# Departments' spreadsheets often put a title and a date line above the header; look this far for it.
HEADER_SEARCH_ROWS = 10
_CHANGE_REASON_LENGTH = 100  # simple_history's history_change_reason column


@dataclass
class ImportResult:
    kind: str
    file_name: str
    dry_run: bool
    total_rows: int = 0
    counts: list[tuple[str, Counts]] = field(default_factory=list)  # (record kind, counts) in display order
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    rejected_rows: int = 0
    written: bool = False

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    @property
    def created(self) -> int:
        return sum(c.create for _label, c in self.counts)

    @property
    def updated(self) -> int:
        return sum(c.update for _label, c in self.counts)

    @property
    def unchanged(self) -> int:
        return sum(c.unchanged for _label, c in self.counts)


# What else follows a written import, inside its transaction: (kind=, user=) callables handed in when the apps load
# (the ledger's rebuild of the open plan years, EnrollmentConfig.ready). Handed in, not imported, because what they
# start are Celery tasks, and the tasks import this engine.
_FOLLOW_UPS: list[Callable[..., object]] = []


def add_follow_up(follow_up: Callable[..., object]) -> None:
    """Call `follow_up(kind=…, user=…)` after every import that writes, in its transaction (once per callable)."""
    if follow_up not in _FOLLOW_UPS:
        _FOLLOW_UPS.append(follow_up)


def may_import(user, kind: str) -> bool:
    return kind in PERMISSIONS and user.is_active and user.has_perm(PERMISSIONS[kind])


def run_import(*, job_or_file, kind: str | None = None, user=None, dry_run: bool = False,
               file_name: str | None = None, progress: Progress | None = None) -> ImportResult:
    """Check a file and, unless `dry_run` or it has errors, write it in one transaction.

    `job_or_file` is an ImportJob (its kind, user and stored file are used and its outcome recorded) or a
    path / file object (then `kind` and `user` are required).
    """
    job = job_or_file if isinstance(job_or_file, ImportJob) else None
    if job is not None:
        kind, user, source, file_name = job.kind, job.created_by, job.file, job.original_name
    else:
        source = job_or_file
        file_name = file_name or os.path.basename(str(getattr(source, "name", source)))
    if kind not in IMPORTERS:
        raise ValueError(f"unknown import kind {kind!r}")
    if not may_import(user, kind):
        raise PermissionDenied(_("You may not import this kind of file."))
    if progress is None:
        progress = JobProgress(job) if job is not None and not dry_run else Progress()
    try:
        with cyclic_gc_paused():
            return _run(job, kind, user, source, file_name, dry_run, progress)
    finally:
        progress.close()


def _run(job, kind, user, source, file_name, dry_run, progress) -> ImportResult:
    errors = ErrorLog()
    importer = IMPORTERS[kind](Context(user, errors))
    total_rows = 0
    try:
        with open_table(source) as table:
            total_rows = _check_rows(importer, table.rows, errors, progress)
    except UnreadableFile as exc:
        errors.add(None, "", exc.message)
    if importer.bound is not None and not importer.bound.missing:
        importer.resolve()
    result = _result(importer, file_name, dry_run, total_rows, errors)
    if dry_run or errors:
        if job is not None:
            _record_outcome(job, result)
        return result

    progress.start_writing(created=result.created, updated=result.updated, objects=importer.objects_to_write)
    writer = Writer(user=user, reason=_change_reason(file_name), when=timezone.now(), progress=progress)
    try:
        with transaction.atomic():
            importer.write(writer)
            result.written = True
            if job is not None:
                _record_outcome(job, result)
            for follow_up in _FOLLOW_UPS:
                follow_up(kind=kind, user=user)
    except IntegrityError:
        # Someone added or changed the same records between the check and the write.
        errors.add(None, "", _("Records in this file were changed by someone else during the import; nothing was "
                               "written. Import the file again."))
        result = _result(importer, file_name, dry_run, total_rows, errors)
        if job is not None:
            _record_outcome(job, result)
    return result


def _check_rows(importer: Importer, rows, errors: ErrorLog, progress: Progress) -> int:
    """Find the header row, then check every data row; returns the number of data rows."""
    columns = importer.columns
    candidates = []
    data_rows = 0
    memo: dict = {}
    for number, cells in rows:
        if _blank_row(cells):
            continue
        # A data row with a control character is rejected as a whole; above the header the row is still looked
        # at as a possible header (its error stays filed).
        if _report_control_characters(number, cells, importer.bound, errors) and importer.bound is not None:
            data_rows += 1
            progress.validated(data_rows)
            continue
        if importer.bound is None:
            if looks_like_header(cells, columns):
                importer.bound = bind_headers(cells, columns)
                for header in importer.bound.duplicated:
                    errors.add(number, header, _("This column appears twice."))
                continue
            candidates.append((number, cells))
            if len(candidates) < HEADER_SEARCH_ROWS:
                continue
            break
        data_rows += 1
        importer.check_row(Row(number, cells, importer.bound, errors, memo))
        progress.validated(data_rows)
    if importer.bound is None:
        if not candidates:
            errors.add(None, "", _("The file is empty."))
            return 0
        # Report against the row that looks most like a header (usually row 1).
        number, cells = max(candidates, key=lambda c: (len(bind_headers(c[1], columns).index), -c[0]))
        importer.bound = bind_headers(cells, columns)
        for column in importer.bound.missing:
            errors.add(number, column.header, _("The file has no column “%(column)s”; it is required.")
                       % {"column": column.header})
        return 0
    if data_rows == 0:
        errors.add(None, "", _("The file has no data rows below its header."))
    return data_rows


def _report_control_characters(number: int, cells, bound, errors: ErrorLog) -> bool:
    """File an error for every cell of the row that holds a control character; True if there was one.

    One search over the joined row first: nearly every row is clean, and this runs for every row.
    """
    try:
        joined = "".join(cells)
    except TypeError:  # xlsx rows mix numbers and dates with text
        joined = "".join([cell for cell in cells if cell.__class__ is str])
    if CONTROL_CHARACTERS.search(joined) is None:
        return False
    headers = {position: bound.header[key] for key, position in bound.index.items()} if bound else {}
    for position, cell in enumerate(cells):
        if cell.__class__ is str and (found := find_control_character(cell)) is not None:
            column = headers.get(position) or _("column %(letter)s") % {"letter": get_column_letter(position + 1)}
            errors.add(number, column, describe(found))
    return True


def _blank_row(cells) -> bool:
    # A plain loop, not all(genexpr): this runs per row, and a data row answers at its first cell.
    for cell in cells:  # noqa: SIM110
        if cell is not None and (cell.__class__ is not str or cell.strip()):
            return False
    return True


def _result(importer: Importer, file_name: str, dry_run: bool, total_rows: int, errors: ErrorLog) -> ImportResult:
    return ImportResult(
        kind=importer.kind, file_name=file_name, dry_run=dry_run, total_rows=total_rows,
        counts=[(str(model._meta.verbose_name_plural), importer.counts[model._meta.model_name])
                for model in importer.models],
        errors=errors.reported(), error_count=errors.count, rejected_rows=len(errors.rejected_rows))


def _change_reason(file_name: str) -> str:
    reason = _("Imported from %(file)s") % {"file": file_name}
    return reason if len(reason) <= _CHANGE_REASON_LENGTH else reason[: _CHANGE_REASON_LENGTH - 1] + "…"


def _record_outcome(job: ImportJob, result: ImportResult) -> None:
    """Written: done. Errors: rejected. A clean dry run: waiting for confirmation, with processed_rows equal to
    total_rows (that is what "checked" means, see is_checked) and the planned counts."""
    fields = {"total_rows": result.total_rows}
    if result.written:
        fields.update(status=ImportStatus.DONE, processed_rows=result.total_rows, created_count=result.created,
                      updated_count=result.updated, rejected_count=0, errors=[], finished_at=timezone.now())
    elif not result.ok:
        fields.update(status=ImportStatus.FAILED, created_count=0, updated_count=0,
                      rejected_count=result.rejected_rows, errors=[e.as_dict() for e in result.errors],
                      finished_at=timezone.now())
    else:
        fields.update(status=ImportStatus.PENDING, processed_rows=result.total_rows, created_count=result.created,
                      updated_count=result.updated, rejected_count=0, errors=[])
    for name, value in fields.items():
        setattr(job, name, value)
    ImportJob.objects.filter(pk=job.pk).update(**fields)


# --- the job's life -----------------------------------------------------------------------------------------
# upload → check (dry run; in the request, or in Celery for a big file) → waiting → confirm → import (in the
# request, or in Celery for a big file) → done / rejected. The ImportJob's status has four values; "waiting"
# covers two moments, told apart by the rows: a checked job has processed_rows == total_rows > 0 (and the
# planned counts), an unchecked one (a big file queued for its check) has processed_rows < total_rows, the
# estimate made at upload.

def is_checked(job: ImportJob) -> bool:
    return job.status == ImportStatus.PENDING and 0 < job.total_rows == job.processed_rows


def _in_background(rows: int) -> bool:
    return rows > settings.ROSTER_BACKGROUND_THRESHOLD


def start_import_job(*, kind: str, upload, user) -> tuple[ImportJob, ImportResult | None]:
    """Store an uploaded file as a waiting job and check it: a small file here (the dry-run result is
    returned), a big one in a Celery task (None is returned; the job shows the progress)."""
    if not may_import(user, kind):
        raise PermissionDenied(_("You may not import this kind of file."))
    try:
        estimate = estimate_data_rows(upload)
    except UnreadableFile:
        estimate = 0  # the check in the request reports what is wrong with the file
    # A file is sometimes named after a person ("522701…张三.xlsx"); the name is shown to colleagues, so masked.
    original_name = mask_numbers_in_text(os.path.basename(upload.name))[:200]
    job = ImportJob.objects.create(kind=kind, file=upload, original_name=original_name,
                                   created_by=user, total_rows=estimate if _in_background(estimate) else 0)
    if _in_background(estimate):
        start_after_commit("enrollment.check_import_job", job.pk)
        return job, None
    return job, run_import(job_or_file=job, dry_run=True)


def confirm_import_job(*, job: ImportJob, user) -> bool:
    """Import a checked job: big files in a Celery task (returns True), small ones right here (False)."""
    if job.created_by_id != user.pk or not is_checked(job):
        raise PermissionDenied(_("This import cannot be confirmed (it is not yours, or it already ran)."))
    if not may_import(user, job.kind):
        raise PermissionDenied(_("You may not import this kind of file."))
    if _in_background(job.total_rows):
        start_after_commit("enrollment.import_job", job.pk)
        return True
    execute_import_job(job_id=job.pk)
    job.refresh_from_db()
    return False


def execute_check_job(*, job_id: int, redelivered: bool = False) -> ImportResult | None:
    """Check (dry-run) an uploaded big file once, reporting progress; what the Celery task runs."""
    claimed = ImportJob.objects.filter(
        pk=job_id, status=ImportStatus.PENDING, processed_rows__lt=F("total_rows")).update(
        status=ImportStatus.RUNNING, processed_rows=0)
    if not claimed and not (redelivered and _running(job_id)):
        return None
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    return _guarded(job, lambda: run_import(job_or_file=job, dry_run=True, progress=JobProgress(job)))


def execute_import_job(*, job_id: int, redelivered: bool = False) -> ImportResult | None:
    """Run a confirmed job once. Safe to call again: a job that is done, failed or running is left alone,
    except a running job whose task is redelivered (its worker died; the import's transaction rolled back)."""
    claimed = ImportJob.objects.filter(
        pk=job_id, status=ImportStatus.PENDING, total_rows__gt=0, processed_rows=F("total_rows")).update(
        status=ImportStatus.RUNNING, processed_rows=0, created_count=0, updated_count=0)
    if not claimed:
        if not (redelivered and _running(job_id)):
            return None
        ImportJob.objects.filter(pk=job_id).update(processed_rows=0, created_count=0, updated_count=0)
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    return _guarded(job, lambda: run_import(job_or_file=job))


def _running(job_id: int) -> bool:
    return ImportJob.objects.filter(pk=job_id, status=ImportStatus.RUNNING).exists()


def _guarded(job: ImportJob, run):
    """Whatever happens, the job ends up finished: a lost permission or a crash is recorded on it."""
    try:
        return run()
    except PermissionDenied as exc:
        # The user lost the permission between upload and import.
        _fail(job, str(exc))
        return None
    except Exception:
        _fail(job, _("The import stopped because of an internal error; nothing was written."))
        raise


def _fail(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, finished_at=timezone.now(), errors=[RowError(None, "", message).as_dict()])
