"""`manage.py run_warnings [--region CODE] [--date YYYY-MM-DD]`: a night of warning lists, synchronously."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from enrollment.models import Region
from monitoring.services.night import run_night


class Command(BaseCommand):
    help = "Compute the warning lists for a region (default: every top-level region) as of a date (default: today)."

    def add_arguments(self, parser):
        parser.add_argument("--region", help="region code (six digits); the night covers it and everything under it")
        parser.add_argument("--date", help="data date, YYYY-MM-DD (default: today, Asia/Shanghai)")

    def handle(self, *args, **options):
        try:
            day = dt.date.fromisoformat(options["date"]) if options["date"] else timezone.localdate()
        except ValueError:
            raise CommandError(_("--date must be YYYY-MM-DD.")) from None
        if options["region"]:
            regions = list(Region.objects.filter(code=options["region"]))
            if not regions:
                raise CommandError(_("No region has the code %(code)s.") % {"code": options["region"]})
        else:
            regions = list(Region.objects.filter(parent__isnull=True))
        for region in regions:
            run = run_night(region=region, day=day)
            self.stdout.write(f"{region} {day}: {run.get_status_display()}")
            for part in run.parts.select_related("region").order_by("region__code", "kind"):
                line = (f"  {part.region.code} {part.get_kind_display()}: +{part.new_count} "
                        f"={part.unchanged_count} -{part.closed_count}")
                if part.error:
                    line += f"  {part.error}"
                self.stdout.write(line)
