"""manage.py seed_demo: demo data for `make run`, and the synthetic data set of the benchmarks."""

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from enrollment import demo
from enrollment.models import Region


class Command(BaseCommand):
    help = _("Load the seed policies and generate a demo county with people, identities, ledger and logins.")

    def add_arguments(self, parser):
        parser.add_argument("--persons", type=int, default=demo.DEFAULT_PERSONS,
                            help=_("How many people to generate (default %(default)s)."))
        parser.add_argument("--seed", type=int, default=1, help=_("Random seed; the same seed gives the same data."))
        parser.add_argument("--if-empty", action="store_true",
                            help=_("Do nothing but print the logins when demo data already exists."))
        parser.add_argument("--region", default=demo.DEFAULT_REGION,
                            help=_("Code of the region to fill (a county, or a prefecture: all its counties)."))
        parser.add_argument("--password-file", type=Path, default=demo.DEFAULT_PASSWORD_FILE,
                            help=_("Where the generated passwords are kept (default %(default)s)."))

    def handle(self, *args, **options):
        persons, password_file = options["persons"], options["password_file"]
        if persons < 0:
            raise CommandError(_("--persons cannot be negative."))
        if demo.demo_data_exists():
            if options["if_empty"]:
                # Not even the policy files are reloaded: that would overwrite what staff changed in the admin.
                self.stdout.write(_("Demo data already present; nothing generated."))
                self._print_logins(demo.existing_logins(password_file))
                return
            raise CommandError(_("The database already holds people; seed_demo fills an empty database "
                                 "(use --if-empty to only print the logins)."))
        started = time.monotonic()
        with transaction.atomic():
            demo.load_seed_policies(stdout=self.stdout)
            region = Region.objects.filter(code=options["region"]).first()
            if region is None:
                raise CommandError(_("No region with code %(code)s.") % {"code": options["region"]})
            logins = demo.ensure_demo_users(region=region, password_file=password_file)
            result = demo.generate(persons=persons, seed=options["seed"], region=region,
                                   progress=self._progress(persons, started))
            extra = self._seed_other_apps(region=region, logins=logins, seed=options["seed"], persons=persons)
        if connection.vendor == "postgresql" and persons > demo.HISTORY_LIMIT:
            # After a bulk load the planner has no statistics and the visibility map is empty (no index-only
            # scans) until autovacuum gets round to the tables; PostgreSQL's bulk-loading advice is to do it now.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM (ANALYZE) " + ", ".join(demo.generated_tables()))
        self.stdout.write(
            _("Generated %(persons)d people in %(households)d households, %(identities)d identities, "
              "%(enrollments)d ledger rows and %(problems)d ledger problems in %(seconds).1f s.") % {
                "persons": result.persons, "households": result.households, "identities": result.identities,
                "enrollments": result.enrollments, "problems": result.problems,
                "seconds": time.monotonic() - started})
        for line in extra:
            self.stdout.write(line)
        self._print_logins(logins)

    def _seed_other_apps(self, *, region, logins, seed, persons):
        """Each app above enrollment seeds its own part of the demo through a hook named in settings.DEMO_SEEDERS.

        Hooks are looked up by dotted path so enrollment never imports an app that depends on it; a hook runs in
        this command's transaction, after the people, identities and ledger exist, in the listed order, and
        returns a line that says what it made.
        """
        lines = []
        for path in settings.DEMO_SEEDERS:
            hook = import_string(path)
            line = hook(region=region, logins=logins, seed=seed, persons=persons, today=timezone.localdate(),
                        stdout=self.stdout)
            if line:
                lines.append(str(line))
        return lines

    def _progress(self, total, started):
        step = max(demo.CHUNK_SIZE, total // 20)
        state = {"next": step}

        def report(result):
            if total >= 50_000 and result.persons >= state["next"]:
                state["next"] += step
                self.stdout.write(_("… %(done)d of %(total)d people (%(seconds).0f s)") % {
                    "done": result.persons, "total": total, "seconds": time.monotonic() - started})
        return report

    def _print_logins(self, logins):
        if not logins:
            self.stdout.write(_("No demo logins are recorded in the password file."))
            return
        self.stdout.write("")
        self.stdout.write(demo.format_logins(logins))
