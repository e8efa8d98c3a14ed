"""Import a hospital's claim file from the command line (the admin's claim list has the same as a page).

    manage.py import_claims claims.xlsx --user clerk_a --dry-run
    manage.py import_claims claims.csv --user clerk_a --settle
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from claims.imports import import_claims


class Command(BaseCommand):
    help = "Import a hospital claim file (.xlsx or CSV): check every row, then register all claims or none."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--user", required=True, help="username of the importing clerk (their regions apply)")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        parser.add_argument("--settle", action="store_true", help="settle each claim after the import")

    def handle(self, *args, file, user, dry_run, settle, **options):
        try:
            importer = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {user!r}.")
        try:
            outcome = import_claims(source=file, user=importer, dry_run=dry_run, settle=settle)
        except PermissionDenied as error:
            raise CommandError(str(error))
        except FileNotFoundError as error:
            raise CommandError(str(error))
        result = outcome.result
        for error in result.errors:
            self.stderr.write(str(error))
        if not result.ok:
            raise CommandError(f"{result.error_count} errors in {result.rejected_rows} rows; nothing was written.")
        if dry_run:
            self.stdout.write(f"{result.total_rows} rows checked, no errors; {result.created} claims would be "
                              "registered (dry run, nothing written).")
            return
        self.stdout.write(f"{result.created} claims registered.")
        if settle:
            self.stdout.write(f"{outcome.settled} claims settled.")
            for error in outcome.settle_errors:
                self.stderr.write(error)
