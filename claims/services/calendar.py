"""Services of the working-day calendar (工作日历, SPEC §4.4): load a year, seed from chinese-calendar, recompute.

* :func:`load_year` replaces one year's holidays and make-up working days (调休上班) from plain rows — the service
  behind the admin's "load a year" action and the ``seed_calendar --file`` command. It validates every row first
  and writes nothing on any error.
* :func:`seed_calendar` loads the years the ``chinese-calendar`` package covers (2004–2026); others are reported
  as skipped, never an error.
* :func:`recompute_open_deadlines` recomputes the due dates and provisional flags of every open manual
  reimbursement (not exempted, not paused) and every open hospital batch after the calendar changed. It works
  per distinct (start date, allowance, pauses) pattern, not per row, and writes only rows whose values changed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import chinese_calendar
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from claims.calendar import calendar_signals_suppressed, invalidate_calendar, load_work_calendar
from claims.models import CalendarDay, CalendarYear, DeadlineRecompute, HospitalBatch, ReimbursementCase, SlaPause
from claims.models.batches import BatchState
from claims.models.calendar import DayKind, RecomputeStatus
from claims.models.reimbursement import CaseState
from claims.rules.calendar_seed import chinese_calendar_seed
from claims.rules.workdays import Deadline, Pause, WorkCalendar, add_working_days, sla_clock
from enrollment.scoping import at_province_level

__all__ = [
    "PACKAGE_YEARS",
    "RUNNING_CASE_STATES",
    "RecomputeResult",
    "SeedResult",
    "YearLoad",
    "check_year_rows",
    "deadline_with_pauses",
    "execute_recompute",
    "load_year",
    "recompute_open_deadlines",
    "seed_calendar",
]

logger = logging.getLogger(__name__)

#: The years the chinese-calendar package publishes (it raises NotImplementedError outside them).
PACKAGE_YEARS = range(2004, 2027)

#: Open states whose clock runs (returned = paused: no due date until resubmission).
RUNNING_CASE_STATES = (CaseState.RECEIVED, CaseState.REVIEWED, CaseState.APPROVED)

_CHUNK = 2000
_REASON = "working-day calendar changed"


@dataclass(frozen=True)
class RecomputeResult:
    cases_checked: int = 0
    cases_changed: int = 0
    case_patterns: int = 0
    batches_checked: int = 0
    batches_changed: int = 0


@dataclass(frozen=True)
class YearLoad:
    year: int
    created: int
    updated: int
    deleted: int
    recomputed: RecomputeResult | None


@dataclass(frozen=True)
class SeedResult:
    loaded: list[int] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)  # already in the table and not replaced
    skipped: list[int] = field(default_factory=list)  # not covered by the package
    recomputed: RecomputeResult | None = None


def deadline_with_pauses(
    calendar: WorkCalendar, *, received_on: dt.date, allowance: int, pauses: Sequence[tuple[dt.date, dt.date]] = ()
) -> Deadline:
    """Due date of a clock of ``allowance`` working days from ``received_on`` with closed pauses (退回补件).

    Evaluated as of the last resumption, so what is left after it is counted from the resume date (SPEC §4.4:
    the clock resumes on resubmission with the days that were left).
    """
    as_of = max((resumed for _paused, resumed in pauses), default=received_on)
    clock = sla_clock(
        calendar, received_on=received_on, allowance=allowance, pauses=[Pause(p, r) for p, r in pauses], today=as_of)
    return Deadline(clock.due_on, clock.provisional)


# ---------------------------------------------------------------------------------------------------------------
# Loading a year
# ---------------------------------------------------------------------------------------------------------------


def _parse_rows(year: int, rows: Iterable[Sequence[object]]) -> list[tuple[dt.date, str, str]]:
    errors: list[str] = []
    parsed: dict[dt.date, tuple[dt.date, str, str]] = {}
    kinds = set(DayKind.values)
    for number, row in enumerate(rows, start=1):
        if len(row) < 2:
            errors.append(_("Row %(row)d: a row needs a date and a kind.") % {"row": number})
            continue
        raw_day, kind = row[0], str(row[1]).strip()
        name = str(row[2]).strip() if len(row) > 2 and row[2] is not None else ""
        if isinstance(raw_day, dt.datetime) or not isinstance(raw_day, dt.date | str):
            errors.append(_("Row %(row)d: %(value)r is not a date.") % {"row": number, "value": raw_day})
            continue
        try:
            day = dt.date.fromisoformat(raw_day.strip()) if isinstance(raw_day, str) else raw_day
        except ValueError:
            errors.append(_("Row %(row)d: %(value)r is not a date (YYYY-MM-DD).") % {"row": number, "value": raw_day})
            continue
        if day.year != year:
            errors.append(_("Row %(row)d: %(day)s is not in %(year)d.") % {"row": number, "day": day, "year": year})
        if kind not in kinds:
            errors.append(
                _("Row %(row)d: unknown kind %(kind)r (expected one of %(kinds)s).")
                % {"row": number, "kind": kind, "kinds": ", ".join(sorted(kinds))})
        elif kind == DayKind.MAKEUP_WORKDAY and day.weekday() < 5:
            errors.append(
                _("Row %(row)d: %(day)s is a weekday; only a Saturday or Sunday can be a make-up working day.")
                % {"row": number, "day": day})
        if len(name) > CalendarDay._meta.get_field("name").max_length:
            errors.append(_("Row %(row)d: the name is too long.") % {"row": number})
        if day in parsed:
            errors.append(_("Row %(row)d: %(day)s appears twice.") % {"row": number, "day": day})
        parsed[day] = (day, kind, name)
    if errors:
        raise ValidationError(errors)
    return sorted(parsed.values())


def check_year_rows(*, year: int, rows: Iterable[Sequence[object]]) -> list[tuple[dt.date, str, str]]:
    """Validate a year's schedule without writing anything (what :func:`load_year` checks first): the parsed rows
    ``(date, kind, name)`` sorted by date, or a ``ValidationError`` listing every problem."""
    if not 1900 <= year <= 2200:
        raise ValidationError(_("%(year)s is not a plausible calendar year.") % {"year": year})
    return _parse_rows(year, rows)


def require_calendar_right(by) -> None:
    """The calendar is shared by every region (`enrollment.roles.PROVINCE_WRITES`): a person changing it needs the
    right and must work at province level. Management commands (by=None) act for the operator."""
    if by is None:
        return
    if not (by.has_perm("claims.change_calendaryear") and at_province_level(by)):
        raise PermissionDenied(_("The working-day calendar is changed at province level only."))


@transaction.atomic
def load_year(*, year: int, rows: Iterable[Sequence[object]], source: str = "", by=None,
              recompute: bool = True) -> YearLoad:
    """Make ``rows`` — ``(date, kind, name)``, kind ``holiday`` / ``makeup_workday``, dates as ``date`` or ISO
    text — the whole schedule of ``year`` and mark the year loaded; then recompute open deadlines.

    Rows of the year not listed are deleted, so loading the same rows twice changes nothing. Every row is
    checked first (date in the year, known kind, make-up days on weekends, no duplicates); any error raises a
    ``ValidationError`` listing all of them and nothing is written. History keeps who changed what.
    """
    require_calendar_right(by)
    wanted = {day: (kind, name) for day, kind, name in check_year_rows(year=year, rows=rows)}
    existing = {row.day: row for row in CalendarDay.objects.filter(day__year=year)}

    to_create = [CalendarDay(day=day, kind=kind, name=name) for day, (kind, name) in wanted.items()
                 if day not in existing]
    to_update = []
    for day, (kind, name) in wanted.items():
        row = existing.get(day)
        if row is not None and (row.kind, row.name) != (kind, name):
            row.kind, row.name = kind, name
            to_update.append(row)
    to_delete = [row for day, row in existing.items() if day not in wanted]

    with calendar_signals_suppressed():
        for row in to_delete:
            row._history_user = by
            row.delete()
        if to_update:
            bulk_update_with_history(to_update, CalendarDay, ["kind", "name"], default_user=by,
                                     default_change_reason=_REASON)
        if to_create:
            bulk_create_with_history(to_create, CalendarDay, default_user=by, default_change_reason=_REASON)
        calendar_year = CalendarYear.objects.filter(year=year).first() or CalendarYear(year=year)
        calendar_year.source = source[: CalendarYear._meta.get_field("source").max_length]
        calendar_year._history_user = by
        calendar_year.save()

    invalidate_calendar()
    transaction.on_commit(invalidate_calendar)  # processes that read between now and the commit
    result = recompute_open_deadlines(by=by) if recompute else None
    return YearLoad(year, len(to_create), len(to_update), len(to_delete), result)


@transaction.atomic
def seed_calendar(*, years: Iterable[int] = PACKAGE_YEARS, replace: bool = False, by=None,
                  recompute: bool = True) -> SeedResult:
    """Load the official schedules of ``years`` from the chinese-calendar package (then recompute once).

    Years already in the table are kept as staff may have corrected them, unless ``replace``. Years the package
    does not cover are reported in ``skipped``.
    """
    require_calendar_right(by)
    seed = chinese_calendar_seed(years)
    already = set(CalendarYear.objects.filter(year__in=seed.loaded_years).values_list("year", flat=True))
    rows_by_year: dict[int, list] = defaultdict(list)
    for row in seed.rows:
        rows_by_year[row.day.year].append(row)
    source = _("State Council holiday schedules (chinese-calendar %(version)s)") % {
        "version": getattr(chinese_calendar, "__version__", "")}
    loaded, kept = [], []
    for year in sorted(seed.loaded_years):
        if year in already and not replace:
            kept.append(year)
            continue
        load_year(year=year, rows=rows_by_year[year], source=source, by=by, recompute=False)
        loaded.append(year)
    recomputed = recompute_open_deadlines(by=by) if loaded and recompute else None
    return SeedResult(loaded, kept, sorted(seed.skipped_years), recomputed)


# ---------------------------------------------------------------------------------------------------------------
# Recomputing open deadlines
# ---------------------------------------------------------------------------------------------------------------


def _write_changes(model, changes: dict[int, dict[str, object]], by) -> None:
    """Write recomputed deadlines: one UPDATE per distinct new value (deadlines of cases received on the same day
    move together) instead of ``bulk_update``'s per-row CASE, which is several times slower; then the history
    rows, so who and why stays visible (simple_history does not see ``update()``)."""
    by_value: dict[tuple, list[int]] = defaultdict(list)
    for pk, values in changes.items():
        by_value[tuple(sorted(values.items()))].append(pk)
    for values, ids in by_value.items():
        for start in range(0, len(ids), _CHUNK):
            model.objects.filter(pk__in=ids[start:start + _CHUNK]).update(**dict(values))
    ids = sorted(changes)
    for start in range(0, len(ids), _CHUNK):
        objs = list(model.objects.filter(pk__in=ids[start:start + _CHUNK]).order_by())
        model.history.bulk_history_create(objs, batch_size=500, update=True, default_user=by,
                                          default_change_reason=_REASON)


class _NoProgress:
    def total(self, count: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


_PROGRESS_STEP = 1000


def _recompute_cases(calendar: WorkCalendar, by, progress) -> tuple[int, int, int]:
    running = ReimbursementCase.objects.filter(state__in=RUNNING_CASE_STATES, exempt=False)
    pauses: dict[int, list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for case_id, paused_on, resumed_on in (
        SlaPause.objects.filter(case__in=running, resumed_on__isnull=False)
        .order_by("case_id", "paused_on", "resumed_on").values_list("case_id", "paused_on", "resumed_on")
    ):
        pauses[case_id].append((paused_on, resumed_on))

    patterns: dict[tuple, Deadline | None] = {}
    changes: dict[int, dict[str, object]] = {}
    checked = 0
    rows = running.values_list("id", "received_on", "sla_working_days", "sla_due_on", "sla_provisional")
    for case_id, received_on, allowance, due_on, provisional in rows.iterator(chunk_size=5000):
        checked += 1
        if checked % _PROGRESS_STEP == 0:
            progress.advance(_PROGRESS_STEP)
        case_pauses = tuple(pauses.get(case_id, ()))
        key = (received_on, allowance, case_pauses)
        if key not in patterns:
            try:
                patterns[key] = deadline_with_pauses(
                    calendar, received_on=received_on, allowance=allowance, pauses=case_pauses)
            except ValueError:  # inconsistent pause rows: leave the case alone rather than block the calendar
                logger.warning("cannot recompute the deadline of case %s: inconsistent pauses", case_id)
                patterns[key] = None
        deadline = patterns[key]
        if deadline is not None and (deadline.due_on, deadline.provisional) != (due_on, provisional):
            changes[case_id] = {"sla_due_on": deadline.due_on, "sla_provisional": deadline.provisional}
    _write_changes(ReimbursementCase, changes, by)
    progress.advance(checked % _PROGRESS_STEP)
    return checked, len(changes), len(patterns)


def _recompute_batches(calendar: WorkCalendar, by, progress) -> tuple[int, int]:
    changes: dict[int, dict[str, object]] = {}
    memo: dict[tuple[dt.date, int], Deadline] = {}

    def deadline(start: dt.date, n: int) -> Deadline:
        if (start, n) not in memo:
            memo[(start, n)] = add_working_days(calendar, start, n)
        return memo[(start, n)]

    checked = 0
    for batch_id, state, received_on, advance_days, advance_due, advance_prov, paid_on, final_days, final_due, \
            final_prov in HospitalBatch.objects.exclude(state=BatchState.CLOSED).values_list(
                "id", "state", "received_on", "advance_working_days", "advance_due_on", "advance_provisional",
                "advance_paid_on", "final_working_days", "final_due_on", "final_provisional").iterator():
        checked += 1
        if checked % _PROGRESS_STEP == 0:
            progress.advance(_PROGRESS_STEP)
        if state == BatchState.RECEIVED:
            new = deadline(received_on, advance_days)
            if (new.due_on, new.provisional) != (advance_due, advance_prov):
                changes[batch_id] = {"advance_due_on": new.due_on, "advance_provisional": new.provisional}
        elif paid_on is not None:
            new = deadline(paid_on, final_days)
            if (new.due_on, new.provisional) != (final_due, final_prov):
                changes[batch_id] = {"final_due_on": new.due_on, "final_provisional": new.provisional}
    _write_changes(HospitalBatch, changes, by)
    progress.advance(checked % _PROGRESS_STEP)
    return checked, len(changes)


@transaction.atomic
def recompute_open_deadlines(*, by=None, progress=None) -> RecomputeResult:
    """Recompute every open deadline with the calendar as it is in the database now.

    Manual reimbursements in a running state and not exempted (paused ones have no due date and get one at
    resubmission); hospital batches awaiting the advance (advance deadline) or the final payment (final
    deadline). Provisional flags follow: a deadline stops being provisional once every year it spans is loaded.
    """
    calendar = load_work_calendar()  # not the cache: another process may not have heard of the change yet
    progress = progress or _NoProgress()
    cases_checked, cases_changed, patterns = _recompute_cases(calendar, by, progress)
    batches_checked, batches_changed = _recompute_batches(calendar, by, progress)
    result = RecomputeResult(cases_checked, cases_changed, patterns, batches_checked, batches_changed)
    logger.info("recomputed open deadlines: %s", result)
    return result


# ---------------------------------------------------------------------------------------------------------------
# The recomputation as a background run (DeadlineRecompute; the task is claims.tasks.recompute_deadlines)
# ---------------------------------------------------------------------------------------------------------------


class RunProgress:
    """Counts of a DeadlineRecompute row, written every `_PROGRESS_STEP` rows (outside the recomputation's own
    transaction only in the sense that the page reads committed rows: it sees the total at once, the end at
    commit)."""

    def __init__(self, run: DeadlineRecompute):
        self.run = run
        self.done = 0

    def total(self, count: int) -> None:
        DeadlineRecompute.objects.filter(pk=self.run.pk).update(total=count)

    def advance(self, count: int) -> None:
        self.done += count
        DeadlineRecompute.objects.filter(pk=self.run.pk).update(processed=self.done)


def open_deadline_count() -> int:
    return (ReimbursementCase.objects.filter(state__in=RUNNING_CASE_STATES, exempt=False).count()
            + HospitalBatch.objects.exclude(state=BatchState.CLOSED).count())


def execute_recompute(run_id: int, *, redelivered: bool = False) -> DeadlineRecompute | None:
    """Run a waiting recomputation once (what the Celery task runs); a finished run is left alone, a running one
    too unless its task was redelivered (the worker died and its transaction rolled back)."""
    claimed = DeadlineRecompute.objects.filter(pk=run_id, status=RecomputeStatus.PENDING).update(
        status=RecomputeStatus.RUNNING, total=open_deadline_count())
    if not claimed and not (redelivered and DeadlineRecompute.objects.filter(
            pk=run_id, status=RecomputeStatus.RUNNING).exists()):
        return None
    run = DeadlineRecompute.objects.select_related("created_by").get(pk=run_id)
    try:
        invalidate_calendar()
        result = recompute_open_deadlines(by=run.created_by, progress=RunProgress(run))
    except Exception:
        DeadlineRecompute.objects.filter(pk=run_id).update(
            status=RecomputeStatus.FAILED, finished_at=timezone.now(),
            message=_("The recomputation stopped because of an internal error; start it again."))
        raise
    DeadlineRecompute.objects.filter(pk=run_id).update(
        status=RecomputeStatus.DONE, finished_at=timezone.now(),
        total=result.cases_checked + result.batches_checked, processed=result.cases_checked + result.batches_checked,
        cases_changed=result.cases_changed, batches_changed=result.batches_changed)
    run.refresh_from_db()
    return run
