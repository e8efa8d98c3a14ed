"""manage.py import_file KIND FILE --user USERNAME [--dry-run]

Runs the same import as the admin pages, in the foreground whatever the file's size, as USERNAME (whose
permissions and regions apply). Prints what the import does or would do and every error (row, column, reason);
exits with status 1 when the file has errors (and then writes nothing).
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from enrollment.imports import run_import
from enrollment.models.imports import ImportKind


class Command(BaseCommand):
    help = "Import a roster, identity, enrolment or region file (.xlsx or CSV) as a given user."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=ImportKind.values)
        parser.add_argument("file")
        parser.add_argument("--user", required=True, help="username whose permissions and regions apply")
        parser.add_argument("--dry-run", action="store_true", help="check the file and report; write nothing")

    def handle(self, *args, kind, file, user, dry_run, **options):
        try:
            importer = get_user_model().objects.get(username=user, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(_("No active user %(user)s.") % {"user": user})
        try:
            result = run_import(job_or_file=file, kind=kind, user=importer, dry_run=dry_run)
        except PermissionDenied as exc:
            raise CommandError(str(exc))
        except FileNotFoundError:
            raise CommandError(_("No such file: %(file)s") % {"file": file})

        self.stdout.write(_("%(file)s: %(rows)d data rows.") % {"file": result.file_name, "rows": result.total_rows})
        verb = _("would be") if dry_run or not result.ok else _("were")
        for label, counts in result.counts:
            self.stdout.write(
                _("  %(label)s %(verb)s created: %(create)d, updated: %(update)d; unchanged: %(same)d")
                % {"label": label, "verb": verb, "create": counts.create, "update": counts.update,
                   "same": counts.unchanged})
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error))
            raise CommandError(
                _("%(errors)d errors in %(rows)d rows; nothing was imported.")
                % {"errors": result.error_count, "rows": result.rejected_rows})
        if result.written:
            self.stdout.write(self.style.SUCCESS(_("Imported.")))
        else:
            self.stdout.write(_("Dry run: nothing was written."))
