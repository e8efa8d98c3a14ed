"""`manage.py load_policy FILE [FILE...] [--replace]` and `manage.py load_policy --all`.

All files of one run are loaded in one transaction: if any file is rejected, nothing of the run is written and
the command exits with status 1 after listing every problem (file, line, field). Later files see what earlier
ones wrote, so a region's versions can be loaded together.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from enrollment.policyfile import PolicyFileError
from enrollment.services.policy import load_policy_document

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "policies"
SUFFIXES = (".yaml", ".yml", ".json")


class _Rejected(Exception):
    """Unwinds the run's transaction after problems were reported."""


def shipped_policy_files() -> list[Path]:
    """The policy files shipped in enrollment/policies/, in name order."""
    return sorted(p for p in SHIPPED_DIR.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


class Command(BaseCommand):
    help = _("Load policy versions from policy files (YAML or JSON, format in docs/policy-files.md). "
             "A file with any problem is rejected whole; if any file is rejected, nothing is written.")

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="*", metavar="FILE", help=_("Policy files to load."))
        parser.add_argument("--all", action="store_true", dest="load_all",
                            help=_("Load every policy file shipped in enrollment/policies/."))
        parser.add_argument("--replace", action="store_true",
                            help=_("Update versions whose code already exists in place (their rules are "
                                   "deleted and recreated from the file)."))
        parser.add_argument("--user", metavar="USERNAME",
                            help=_("Record this user as the author in the change history."))

    def handle(self, *args, files=(), load_all=False, replace=False, user=None, **options):
        if load_all and files:
            raise CommandError(_("Give either files or --all, not both."))
        paths = shipped_policy_files() if load_all else [Path(name) for name in files]
        if not paths:
            raise CommandError(_("Name at least one policy file, or use --all."))
        by = None
        if user:
            by = get_user_model().objects.filter(username=user).first()
            if by is None:
                raise CommandError(_("No user named %(name)s.") % {"name": user})

        problems: list[str] = []
        done: list[str] = []
        try:
            with transaction.atomic():
                for path in paths:
                    try:
                        content = path.read_bytes()
                    except OSError as exc:
                        problems.append(_("%(name)s: cannot be read (%(error)s)")
                                        % {"name": path, "error": exc.strerror or exc})
                        continue
                    try:
                        policy = load_policy_document(document=content, source_name=path.name, by=by,
                                                      replace=replace)
                    except PolicyFileError as exc:
                        problems.extend(exc.messages)
                        continue
                    done.append(_("%(file)s: policy version %(code)s (%(region)s, %(start)s – %(end)s), "
                                  "%(subsidies)d subsidy rules, %(shares)d cost-sharing rules") % {
                        "file": path.name, "code": policy.code, "region": policy.region,
                        "start": policy.effective_from.isoformat(),
                        "end": policy.effective_to.isoformat() if policy.effective_to else "…",
                        "subsidies": policy.subsidy_rules.count(), "shares": policy.cost_share_rules.count()})
                if problems:
                    raise _Rejected
        except _Rejected:
            for line in problems:
                self.stderr.write(line)
            raise CommandError(_("%(count)d problem(s) found; nothing was written.") % {"count": len(problems)})
        for line in done:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(
            _("Loaded %(count)d policy file(s).") % {"count": len(done)}))
