"""manage.py build_ledger --region CODE --year YYYY --user USERNAME

Builds a plan year's ledger for a region in the foreground (the embedded default's way; the admin's page runs the
same as a Celery task): new identity holders get 应参保 rows, unpaid rows of ended identities and the ledger's
problems are listed. Prints the counts; running it again adds only what is missing.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from enrollment.models import Region
from enrollment.services.ledger_runs import execute_ledger_run, start_ledger_build


class Command(BaseCommand):
    help = "Build a plan year's enrolment ledger for a region (and everything under it) as a given user."

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="region code")
        parser.add_argument("--year", type=int, required=True, help="plan year")
        parser.add_argument("--user", required=True, help="username whose permissions and regions apply")

    def handle(self, *args, region, year, user, **options):
        try:
            builder = get_user_model().objects.get(username=user, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(_("No active user %(user)s.") % {"user": user}) from None
        place = Region.objects.filter(code=region).first()
        if place is None:
            raise CommandError(_("No region with code %(code)s.") % {"code": region})
        try:
            # Recorded, not dispatched: the command is the synchronous path and runs it here.
            run = start_ledger_build(region=place, plan_year=year, by=builder, trigger=_("command line"),
                                     dispatch=False)
        except (PermissionDenied, ValidationError) as error:
            raise CommandError(" ".join(getattr(error, "messages", [str(error)])) or str(error)) from None
        run = execute_ledger_run(run.pk)
        self.stdout.write(
            _("%(region)s %(year)s: %(created)d ledger rows created, %(ended)d rows whose identity ended, "
              "%(problems)d problems found (%(counties)d counties).") % {
                "region": place.name, "year": year, "created": run.created_rows, "ended": run.identities_ended,
                "problems": run.problems_found, "counties": run.done_steps})
