"""Staff roles as Django groups, kept in step with this table after every migrate.

Each later capability adds its models' permissions here; the table is the single statement of who may do what.
Permissions of models not installed yet are skipped, so the table can name them ahead of their migrations.
"""

from django.utils.translation import gettext_lazy as _

CLERK = "经办员"
REVIEWER = "初审员"
APPROVER = "复核员"
HEAD = "科室负责人"
LIAISON = "部门联络员"
ADMIN = "系统管理员"
HOSPITAL = "定点医疗机构用户"

ROLE_LABELS = {
    CLERK: _("Clerk"),
    REVIEWER: _("Initial reviewer"),
    APPROVER: _("Re-reviewer / approver"),
    HEAD: _("Head of section"),
    LIAISON: _("Liaison of another department"),
    ADMIN: _("System administrator"),
    HOSPITAL: _("Hospital user (eligibility look-up)"),
}

_READ_REFERENCE = {
    "enrollment.region": "view",
    "enrollment.regionyear": "view",
    "enrollment.identitycategory": "view",
    "enrollment.policyversion": "view",
    "enrollment.subsidyrule": "view",
    "enrollment.costsharerule": "view",
}
_READ_PEOPLE = {
    "enrollment.person": "view",
    "enrollment.household": "view",
    "enrollment.identity": "view",
    "enrollment.enrollment": "view",
    "enrollment.ledgerproblem": "view",
    "enrollment.importjob": "view",
}

_READ_CLAIMS = {
    "claims.hospital": "view",
    "claims.claim": "view",
    "claims.settlement": "view",
    "claims.paymentline": "view",
    "claims.reimbursementcase": "view",
    "claims.slapause": "view",
    "claims.caseevent": "view",
    "claims.hospitalbatch": "view",
    "claims.batchline": "view",
    "claims.calendarday": "view",
    "claims.calendaryear": "view",
    "claims.benefitpolicy": "view",
    "claims.basicbenefitrule": "view",
    "claims.criticalsegment": "view",
    "claims.categorytilt": "view",
    "claims.assistancebenefitrule": "view",
    "claims.specialdisease": "view",
}
_EDIT_BENEFITS = {
    "claims.benefitpolicy": "view add change",
    "claims.basicbenefitrule": "view add change delete",
    "claims.criticalsegment": "view add change delete",
    "claims.categorytilt": "view add change delete",
    "claims.assistancebenefitrule": "view add change delete",
    "claims.specialdisease": "view add change delete",
    "claims.calendarday": "view add change delete",
    "claims.calendaryear": "view add change",
}

# model -> space-separated actions (view/add/change/delete) or extra codenames prefixed with "+".
ROLE_PERMISSIONS: dict[str, dict[str, str]] = {
    CLERK: {
        **_READ_REFERENCE,
        "enrollment.person": "view add change",
        "enrollment.household": "view add change",
        "enrollment.identity": "view add change",
        "enrollment.enrollment": "view add change",
        "enrollment.ledgerproblem": "view add change",
        "enrollment.ledgerrun": "view add",
        "enrollment.importjob": "view add",
        **_READ_CLAIMS,
        "claims.claim": "view add change",
        "claims.reimbursementcase": "view add change",
        "claims.hospitalbatch": "view add change",
    },
    REVIEWER: {
        **_READ_REFERENCE,
        **_READ_PEOPLE,
        **_READ_CLAIMS,
        "claims.reimbursementcase": "view change +initial_review",
        "claims.hospitalbatch": "view change +audit_batch",
        "claims.batchline": "view change",
    },
    APPROVER: {
        **_READ_REFERENCE,
        **_READ_PEOPLE,
        **_READ_CLAIMS,
        "claims.reimbursementcase": "view change +re_review +pay_case",
        "claims.hospitalbatch": "view change +pay_batch",
    },
    HEAD: {
        **_READ_REFERENCE,
        **_READ_PEOPLE,
        **_READ_CLAIMS,
        **_EDIT_BENEFITS,
        "claims.reimbursementcase": "view change +exempt_case",
        "enrollment.person": "view +view_full_id_number",
        "enrollment.ledgerproblem": "view add change",
        "enrollment.ledgerrun": "view add",
        "enrollment.regionyear": "view add change",
        "enrollment.policyversion": "view add change",
        "enrollment.subsidyrule": "view add change delete",
        "enrollment.costsharerule": "view add change delete",
    },
    LIAISON: {
        **_READ_REFERENCE,
        "enrollment.person": "view",
        "enrollment.identity": "view add",
        "enrollment.importjob": "view add",
    },
    ADMIN: {"*": "*"},
    HOSPITAL: {"claims.hospital": "view", "claims.claim": "view +lookup_eligibility"},
}


def permission_codenames(model_label: str, actions: str) -> list[tuple[str, str]]:
    app_label, model = model_label.split(".")
    out = []
    for action in actions.split():
        codename = action[1:] if action.startswith("+") else f"{action}_{model}"
        out.append((app_label, codename))
    return out


def sync_roles(**kwargs):
    """Create the role groups and set their permissions exactly as the table says (idempotent)."""
    from django.contrib.auth.models import Group, Permission
    from django.db.models import Q

    for role, table in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        if table == {"*": "*"}:
            group.permissions.set(Permission.objects.all())
            continue
        q = Q(pk__in=[])
        for model_label, actions in table.items():
            for app_label, codename in permission_codenames(model_label, actions):
                q |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(q))
