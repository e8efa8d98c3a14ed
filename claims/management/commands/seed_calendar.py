"""Load the working-day calendar: from chinese-calendar (2004–2026), or one year from a CSV file.

    manage.py seed_calendar                      # every year the package covers; loaded years are kept
    manage.py seed_calendar 2025 2026 --replace  # reload these years from the package
    manage.py seed_calendar --year 2027 --file 2027.csv   # a year the package does not know yet

The CSV has the columns ``date,kind,name`` (kind: ``holiday`` or ``makeup_workday``; a header row is optional).
"""

import csv

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from claims.services.calendar import PACKAGE_YEARS, load_year, seed_calendar


class Command(BaseCommand):
    help = "Load the working-day calendar (holidays and make-up working days)."

    def add_arguments(self, parser):
        parser.add_argument("years", nargs="*", type=int, help="years to seed from chinese-calendar (default: all)")
        parser.add_argument("--replace", action="store_true", help="replace years already loaded")
        parser.add_argument("--year", type=int, help="the year of --file")
        parser.add_argument("--file", help="CSV file with date,kind,name rows for --year")

    def handle(self, *args, years, replace, year, file, **options):
        if file:
            if not year:
                raise CommandError(_("--file needs --year."))
            try:
                with open(file, newline="", encoding="utf-8-sig") as handle:
                    rows = [row for row in csv.reader(handle) if row and row[0].strip()]
            except OSError as error:
                raise CommandError(str(error)) from error
            if rows and rows[0][0].strip().lower() == "date":
                rows = rows[1:]
            try:
                result = load_year(year=year, rows=rows, source=str(file))
            except ValidationError as error:
                raise CommandError("\n".join(error.messages)) from error
            self.stdout.write(
                _("%(year)d loaded: %(created)d added, %(updated)d changed, %(deleted)d removed.")
                % {"year": result.year, "created": result.created, "updated": result.updated,
                   "deleted": result.deleted})
            self._report_recompute(result.recomputed)
            return
        result = seed_calendar(years=years or PACKAGE_YEARS, replace=replace)
        if result.loaded:
            self.stdout.write(_("Loaded: %(years)s") % {"years": _years(result.loaded)})
        if result.kept:
            self.stdout.write(_("Already loaded, kept (use --replace): %(years)s") % {"years": _years(result.kept)})
        if result.skipped:
            self.stdout.write(
                _("Not covered by chinese-calendar, skipped: %(years)s") % {"years": _years(result.skipped)})
        self._report_recompute(result.recomputed)

    def _report_recompute(self, recomputed):
        if recomputed is not None:
            self.stdout.write(
                _("Open deadlines recomputed: %(cases)d of %(checked)d cases and %(batches)d batches changed.")
                % {"cases": recomputed.cases_changed, "checked": recomputed.cases_checked,
                   "batches": recomputed.batches_changed})


def _years(years):
    return ", ".join(str(year) for year in years)
