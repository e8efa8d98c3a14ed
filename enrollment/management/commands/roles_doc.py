"""Write docs/roles.md from the role table (`enrollment.roles`); `--check` only says whether the file is current."""

from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from enrollment import roles

DOC_PATH = Path(settings.BASE_DIR) / "docs" / "roles.md"


def _model_name(label: str) -> str:
    try:
        model = apps.get_model(label)
    except LookupError:
        return ""  # named ahead of its migration
    return str(model._meta.verbose_name)


def _model_scope(label: str) -> str:
    if label in roles.NO_PERMISSION_MODELS:
        return roles.NO_PERMISSION_MODELS[label]
    if label in roles.SUPERUSER_ONLY:
        return "superusers only"
    if label in roles.PROVINCE_WRITES:
        return "shared; written at province level only"
    if label in roles.STAFF_SCOPED:
        return "accounts within the user's regions"
    try:
        model = apps.get_model(label)
    except LookupError:
        return ""
    if getattr(model, "region_scope", None) is None:
        return "unscoped" if label != "enrollment.importjob" else "own imports; colleagues' with view"
    if getattr(model, "region_scope_reads_ancestors", False):
        return "own regions and below; reads the regions above"
    return "own regions and below"


def render() -> str:
    """The Markdown of docs/roles.md (Chinese model names, English notes: the table's own language)."""
    role_list = list(roles.ROLE_PERMISSIONS)
    labels = sorted({label for table in roles.ROLE_PERMISSIONS.values() for label in table}
                    | roles.PROVINCE_WRITES | roles.STAFF_SCOPED | roles.SUPERUSER_ONLY
                    | set(roles.NO_PERMISSION_MODELS))
    out = [
        "# Roles and permissions",
        "",
        "Generated from `enrollment/roles.py` by `python manage.py roles_doc`; do not edit by hand "
        "(tests/project/test_roles_doc.py fails when this file is not current).",
        "Groups are synced from the same table after every migrate; "
        "tests/project/test_permission_walk.py walks every admin page, action and URL for every role against it.",
        "",
        "## Roles and their scope",
        "",
        "| Role | English | Works on |",
        "|---|---|---|",
    ]
    with translation.override("en"):
        for role in role_list:
            scope = roles.SCOPE_LABELS.get(roles.ROLE_SCOPES.get(role), "— (missing from ROLE_SCOPES)")
            out.append(f"| {role} | {roles.ROLE_LABELS.get(role, '')} | {scope} |")
    out += [
        "",
        "A user at province level works on the whole province. A user whose regions are all below province reads, "
        "but never changes, the shared reference data (marked *shared* below).",
        "",
        "## Permissions by model",
        "",
        "view / add / change / delete, and `+codename` for a custom permission. "
        "*admin read-only*: the admin pages only show these rows; the services and pages named below write them.",
        "",
        "| Model | | Scope | " + " | ".join(role_list) + " |",
        "|---|---|---|" + "---|" * len(role_list),
    ]
    with translation.override("zh-hans"):
        for label in labels:
            scope = _model_scope(label)
            if label in roles.ADMIN_READ_ONLY:
                scope += "; admin read-only"
            cells = [roles.ROLE_PERMISSIONS[role].get(label, "") for role in role_list]
            out.append(f"| `{label}` | {_model_name(label)} | {scope} | " + " | ".join(cells) + " |")
    out += ["", "## Admin actions", "", "| Model | Action | Needs |", "|---|---|---|"]
    for name, need in roles.SITE_ACTIONS.items():
        out.append(f"| every model | `{name}` | {need} |")
    for label, actions in sorted(roles.ADMIN_ACTIONS.items()):
        for name, need in actions.items():
            out.append(f"| `{label}` | `{name}` | {need} |")
    out += ["", "## Pages", "",
            "Admin pages of a model (list, add, change, delete, history) follow the model's row above. Other pages, "
            "by URL name (`a|b`: either permission; `a&b`: both; `hospital:` a user who works for a hospital):", "",
            "| URL name | Needs | Rows scoped as |", "|---|---|---|"]
    for name, (need, model_label) in sorted(roles.VIEW_PERMISSIONS.items()):
        out.append(f"| `{name}` | {_need_text(need)} | {f'`{model_label}`' if model_label else ''} |")
    return "\n".join(out) + "\n"


def _need_text(need: str) -> str:
    return need.replace("|", " or ").replace("&", " and ")


class Command(BaseCommand):
    help = "Write docs/roles.md from the role table (enrollment/roles.py)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Only check that docs/roles.md is current.")

    def handle(self, *args, check=False, **options):
        text = render()
        if check:
            if not DOC_PATH.exists() or DOC_PATH.read_text(encoding="utf-8") != text:
                raise CommandError(f"{DOC_PATH} is out of date: run `python manage.py roles_doc`.")
            self.stdout.write(f"{DOC_PATH} is current.")
            return
        DOC_PATH.write_text(text, encoding="utf-8")
        self.stdout.write(f"Wrote {DOC_PATH}.")
