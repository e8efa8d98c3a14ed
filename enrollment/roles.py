"""Who may do what, as one table: role × model/page × action × scope (SPEC "Trust"; docs/roles.md is generated
from this module by `manage.py roles_doc`).

- `ROLE_PERMISSIONS`: per role, per model, the actions (view/add/change/delete, "+codename" for a custom permission).
  Synced to Django groups after every migrate (`sync_roles`), so Django's permission checks — admin, views,
  services — all read this table. Nothing grants "*": a 系统管理员 manages accounts and holds no business right.
- `ROLE_SCOPES`: whose records a role works on (own hospital, or own regions and everything under them).
- `PROVINCE_WRITES`: reference data shared by every region; changed only by users at province level.
- `STAFF_SCOPED`: accounts and login logs, scoped by the user's regions (a user belongs to an administrator's reach
  only when all of that user's regions lie within the administrator's).
- `ADMIN_ACTIONS` and `VIEW_PERMISSIONS`: the admin's bulk actions and every other page, by URL name, with the
  permission that opens them. tests/project/test_permission_walk.py walks every admin URL and page for every role
  and fails on any model, action or URL name this module does not mention.

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
RURAL_DEPT = "乡村振兴部门用户"
HEALTH_DEPT = "卫健部门用户"

ROLE_LABELS = {
    CLERK: _("Clerk"),
    REVIEWER: _("Initial reviewer"),
    APPROVER: _("Re-reviewer / approver"),
    HEAD: _("Head of section"),
    LIAISON: _("Liaison of another department"),
    ADMIN: _("System administrator"),
    HOSPITAL: _("Hospital user (eligibility look-up)"),
    RURAL_DEPT: _("Rural revitalization department user (special aid)"),
    HEALTH_DEPT: _("Health department user (special aid)"),
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
    "claims.settlementcorrection": "view",
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

_READ_ASSISTANCE = {
    "assistance.assistancepolicy": "view",
    "assistance.application": "view",
    "assistance.declaredincome": "view",
    "assistance.declaredasset": "view",
    "assistance.outsidecost": "view",
    "assistance.applicationpause": "view",
    "assistance.applicationevent": "view",
    "assistance.assistancesupplement": "view",
    "assistance.specialaidcase": "view",
    "assistance.specialaidmeeting": "view",
    "assistance.specialaidfollowup": "view",
    "assistance.specialaidevent": "view",
}
# Department users of 乡村振兴 / 卫健 approve special aid (one approval each) and may open cases; they read people
# and the assistance records of their region, nothing of claims beyond what a case page shows.
_SPECIAL_AID_DEPT = {
    **_READ_REFERENCE,
    "enrollment.person": "view",
    "enrollment.household": "view",
    "assistance.assistancepolicy": "view",
    "assistance.specialaidcase": "view +open_special_aid",
    "assistance.specialaidmeeting": "view",
    "assistance.specialaidfollowup": "view add",
    "assistance.specialaidevent": "view",
}
# Monitoring (warning lists): clerks and township liaisons handle items in their regions; heads also start runs.
_MONITORING_READ = {
    "monitoring.nightrun": "view",
    "monitoring.runpart": "view",
    "monitoring.runlist": "view",
    "monitoring.dashboardsnapshot": "view",
    "monitoring.warningevidence": "view",
    "monitoring.monitoringpolicy": "view",
}
_MONITORING_HANDLE = {
    **_MONITORING_READ,
    "monitoring.warningitem": "view change +handle_warningitem +export_warnings",
}

# When the nightly warning jobs run (django-celery-beat's database scheduler): heads read the night's task and its
# crontab and, at province level (PROVINCE_WRITES: one schedule for every region), change when it runs and switch it
# on or off. Which task runs, with what arguments, and the other schedule kinds stay with superusers (operations):
# monitoring/admin_schedule.py shows heads only those fields.
_NIGHT_SCHEDULE = {
    "django_celery_beat.periodictask": "view change",
    "django_celery_beat.crontabschedule": "view change",
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
        "claims.claim": "view add change +settle_claim",
        "claims.settlementcorrection": "view +propose_correction",
        "claims.reimbursementcase": "view add change",
        "claims.hospitalbatch": "view add change",
        **_READ_ASSISTANCE,
        "assistance.application": "view add change",
        "assistance.declaredincome": "view add change",
        "assistance.declaredasset": "view add change",
        "assistance.outsidecost": "view add change",
        "assistance.specialaidcase": "view +open_special_aid +decide_special_aid",
        "assistance.specialaidmeeting": "view add",
        "assistance.specialaidfollowup": "view add",
        **_MONITORING_HANDLE,
    },
    REVIEWER: {
        **_READ_REFERENCE,
        **_READ_PEOPLE,
        **_READ_CLAIMS,
        "claims.reimbursementcase": "view change +initial_review",
        "claims.hospitalbatch": "view change +audit_batch",
        "claims.batchline": "view change",
        **_READ_ASSISTANCE,
        "assistance.application": "view +review_application",
    },
    APPROVER: {
        **_READ_REFERENCE,
        **_READ_PEOPLE,
        **_READ_CLAIMS,
        "claims.reimbursementcase": "view change +re_review +pay_case",
        "claims.hospitalbatch": "view change +pay_batch",
        **_READ_ASSISTANCE,
        "assistance.application": "view +approve_application +pay_application",
        "assistance.specialaidcase": "view +pay_special_aid",
        "claims.settlementcorrection": "view +approve_correction",
    },
    HEAD: {
        **_READ_REFERENCE,
        **_READ_PEOPLE,
        **_READ_CLAIMS,
        **_EDIT_BENEFITS,
        "claims.reimbursementcase": "view change +exempt_case",
        "claims.eligibilitylookup": "view",
        "claims.settlementcorrection": "view +approve_correction",
        "enrollment.person": "view +view_full_id_number",
        "enrollment.idnumberaccess": "view",
        "enrollment.ledgerproblem": "view add change",
        "enrollment.region": "view add change",
        "enrollment.ledgerrun": "view add",
        "enrollment.identitycategory": "view change",  # names and order; shared, so at province level only
        "enrollment.regionyear": "view add change",
        "enrollment.policyversion": "view add change",
        "enrollment.subsidyrule": "view add change delete",
        "enrollment.costsharerule": "view add change delete",
        **_READ_ASSISTANCE,
        "assistance.assistancepolicy": "view add change",
        **_MONITORING_HANDLE,
        "monitoring.warningitem": "view change +handle_warningitem +export_warnings +run_warnings",
        "monitoring.monitoringpolicy": "view add change delete",
        **_NIGHT_SCHEDULE,
    },
    LIAISON: {
        **_READ_REFERENCE,
        "enrollment.person": "view",
        "enrollment.identity": "view add",
        "enrollment.importjob": "view add",
        **_MONITORING_HANDLE,
    },
    # Accounts only: users of the administrator's regions, their region memberships and groups (read: groups are
    # this table), hospital links (choosing the hospital needs to read the hospital list) and login logs.
    ADMIN: {
        "auth.user": "view add change",
        "auth.group": "view",
        "enrollment.regionmembership": "view add change delete",
        "claims.hospitalstaff": "view add change delete",
        "claims.hospital": "view",
        "axes.accessattempt": "view",
        "axes.accesslog": "view",
        "axes.accessfailurelog": "view",
    },
    # Scoped to the user's own hospital by enrollment.scoping (hospital_scope), not by region.
    HOSPITAL: {
        "claims.hospital": "view",
        "claims.claim": "view +lookup_eligibility",
        "claims.settlement": "view",
        "claims.paymentline": "view",
        "claims.hospitalbatch": "view +submit_batch",
        "claims.batchline": "view",
    },
    RURAL_DEPT: {
        **_SPECIAL_AID_DEPT, "assistance.specialaidcase": "view +open_special_aid +approve_special_aid_rural"},
    HEALTH_DEPT: {
        **_SPECIAL_AID_DEPT, "assistance.specialaidcase": "view +open_special_aid +approve_special_aid_health"},
}

# --- Scopes -------------------------------------------------------------------------------------------------------

SCOPE_REGION = "region"
SCOPE_HOSPITAL = "hospital"
SCOPE_LABELS = {
    SCOPE_REGION: _("own regions and every region under them (a county: the county; the province: all of it)"),
    SCOPE_HOSPITAL: _("own hospital"),
}
ROLE_SCOPES: dict[str, str] = {
    CLERK: SCOPE_REGION,
    REVIEWER: SCOPE_REGION,
    APPROVER: SCOPE_REGION,
    HEAD: SCOPE_REGION,
    LIAISON: SCOPE_REGION,
    ADMIN: SCOPE_REGION,
    HOSPITAL: SCOPE_HOSPITAL,
    RURAL_DEPT: SCOPE_REGION,
    HEALTH_DEPT: SCOPE_REGION,
}

# Shared by every region: readable by whoever has "view", written (add/change/delete/actions) at province level only.
PROVINCE_WRITES = frozenset({
    # The night's schedule (django-celery-beat) is one for the whole province.
    "django_celery_beat.periodictask",
    "django_celery_beat.crontabschedule",
    "claims.calendarday",
    "claims.calendaryear",
    "enrollment.identitycategory",
    "auth.group",
})

# Rows written only by services and their own pages (reviews, imports, settlement): their admin pages are read-only
# for everyone, whatever add/change the role holds for the services.
ADMIN_READ_ONLY = frozenset({
    "claims.hospitalbatch",
    "claims.reimbursementcase",
    "claims.paymentline",
    "enrollment.importjob",
    # Registered and moved on their own pages (assistance/), built from the ledger-build page.
    "assistance.application",
    "assistance.outsidecost",
    "enrollment.ledgerrun",
})

# monitoring.nightcandidate (the night's staging rows, written and deleted by the night's services, never shown)
# is given to no role and registered nowhere.

# Registered in the admin for superusers (operations), given to no role: every staff page of theirs is 403.
SUPERUSER_ONLY = frozenset({
    "django_celery_beat.clockedschedule",
    "django_celery_beat.intervalschedule",
    "django_celery_beat.solarschedule",
})

# Models no role holds a permission on: their pages decide by ownership or by another model's right, so a
# group permission on them would open nothing and is not given.
NO_PERMISSION_MODELS: dict[str, str] = {
    "enrollment.exportjob": "the requester's own exports only (anyone else: 404)",
    "claims.deadlinerecompute": "whoever may view the working-day calendar (claims.calendaryear)",
}

# Accounts and what they leave behind: scoped to users whose regions all lie within the viewer's.
STAFF_SCOPED = frozenset({
    "auth.user",
    "enrollment.regionmembership",
    "axes.accessattempt",
    "axes.accesslog",
    "axes.accessfailurelog",
})

# --- Admin actions and pages ----------------------------------------------------------------------------------------

# model -> admin action name -> what the action needs: an action on the model (view/add/change/delete) or a
# permission "app.codename".
ADMIN_ACTIONS: dict[str, dict[str, str]] = {
    "enrollment.enrollment": {"enrol_again": "change", "mark_not_insured": "change", "mark_cannot_enrol": "change"},
    "enrollment.ledgerproblem": {"close_off": "change"},
    "claims.calendaryear": {"recompute_deadlines": "change", "reload_published": "change"},
    "claims.claim": {"settle_selected": "change"},
    "django_celery_beat.periodictask": {"enable_tasks": "change", "disable_tasks": "change", "toggle_tasks": "change",
                                        "run_tasks": "change"},
    # Unlocking resets the lockout counter of accounts the administrator manages; the logs themselves stay.
    "axes.accessattempt": {"unlock_accounts": "auth.change_user"},
}

# Actions the admin site offers on every model: name -> the model permission they need.
SITE_ACTIONS: dict[str, str] = {"delete_selected": "delete"}

ANY_STAFF = "staff"  # any active staff account (the admin's own pages: index, password change, …)
VIEW_OF_MODEL_ASKED = "view of the model asked for"
PUBLIC = "public"  # no login needed (the login page)
# A need "hospital:<app.codename>": the permission, held by a user who works for a hospital (the hospital portal).
HOSPITAL_NEED = "hospital:"

# URL name -> permission that opens the page ("app.codename"; "a|b" = either), and for pages about one record the
# model whose scope decides which records the user may open. Admin pages of a registered model (changelist, add,
# change, delete, history) follow ROLE_PERMISSIONS and are not repeated here.
VIEW_PERMISSIONS: dict[str, tuple[str, str | None]] = {
    "admin:index": (ANY_STAFF, None),
    "admin:login": (PUBLIC, None),
    # Load balancers probe it without an account; it answers only "ok"/"unreachable" per dependency.
    "healthz": (PUBLIC, None),
    "admin:logout": (ANY_STAFF, None),
    "admin:password_change": (ANY_STAFF, None),
    "admin:password_change_done": (ANY_STAFF, None),
    # The answer lists rows of the model asked for, so it needs that model's "view" (the walk asks for people).
    "admin:autocomplete": (VIEW_OF_MODEL_ASKED, None),
    "admin:jsi18n": (ANY_STAFF, None),
    "admin:view_on_site": (ANY_STAFF, None),
    "admin:app_list": (ANY_STAFF, None),
    "admin:auth_user_password_change": ("auth.change_user", "auth.user"),
    "admin:enrollment_person_export": ("enrollment.view_person", None),
    "admin:enrollment_identity_export": ("enrollment.view_identity", None),
    "admin:enrollment_enrollment_export": ("enrollment.view_enrollment", None),
    "admin:assistance_application_export": ("assistance.view_application", None),
    "admin:assistance_specialaidcase_export": ("assistance.view_specialaidcase", None),
    "admin:enrollment_region_export": ("enrollment.view_region", None),
    "admin:claims_claim_export": ("claims.view_claim", None),
    "admin:enrollment_enrollment_coverage": ("enrollment.view_enrollment|enrollment.change_enrollment", None),
    "admin:claims_claim_eligibility": ("enrollment.view_person", None),
    "admin:claims_claim_import": ("claims.add_claim", None),
    "admin:claims_claim_slip": ("claims.view_claim", "claims.claim"),
    "admin:claims_claim_settle": ("claims.change_claim", "claims.claim"),
    "admin:claims_claim_correct": ("claims.change_claim", "claims.claim"),
    "enrollment:import-start": (
        "enrollment.add_region|enrollment.add_person|enrollment.add_identity|enrollment.add_enrollment", None),
    "enrollment:import-confirm": (
        "enrollment.add_region|enrollment.add_person|enrollment.add_identity|enrollment.add_enrollment", None),
    # Everyone sees their own imports; colleagues' imports need the view permission.
    "enrollment:import-result": ("enrollment.view_importjob", "enrollment.importjob"),
    "enrollment:import-status": ("enrollment.view_importjob", "enrollment.importjob"),
    "enrollment:import-template": ("enrollment.add_person", None),
    # Background exports: any staff account lists its own; a job's pages open to its requester only (404 for
    # everyone else), so the walk has no row to open them with — tests/enrollment/test_export_jobs.py does.
    "enrollment:export-list": (ANY_STAFF, None),
    "enrollment:export-status": (ANY_STAFF, None),
    "enrollment:export-download": (ANY_STAFF, None),
    "claims:index": (ANY_STAFF, None),
    "claims:case_queue": ("claims.view_reimbursementcase", None),
    "claims:register_case": ("claims.add_reimbursementcase", None),
    "claims:case_detail": ("claims.view_reimbursementcase", "claims.reimbursementcase"),
    # The action pages open to whoever reads the record; each action's own right (+initial_review, +pay_case, …)
    # is checked by the service it calls.
    "claims:case_action": ("claims.view_reimbursementcase", "claims.reimbursementcase"),
    "claims:batch_queue": ("claims.view_hospitalbatch", None),
    "claims:batch_detail": ("claims.view_hospitalbatch", "claims.hospitalbatch"),
    "claims:batch_action": ("claims.view_hospitalbatch", "claims.hospitalbatch"),
    "api-eligibility": ("claims.lookup_eligibility", None),
    "admin:claims_settlementcorrection_decide": ("claims.approve_correction", "claims.settlementcorrection"),
    "admin:enrollment_policyversion_close": ("enrollment.change_policyversion", "enrollment.policyversion"),
    # A recomputation of the (shared) calendar's deadlines: whoever reads the calendar follows it; runs have no
    # region, and the walk has no row of them (tests/claims/test_calendar_recompute.py opens them).
    "admin:claims_calendaryear_recompute": ("claims.view_calendaryear", None),
    "admin:enrollment_ledgerrun_build": ("enrollment.add_ledgerrun", None),
    "admin:enrollment_ledgerrun_status": ("enrollment.view_ledgerrun", "enrollment.ledgerrun"),
    "assistance:index": (ANY_STAFF, None),
    "assistance:application_queue": ("assistance.view_application", None),
    "assistance:register_application": ("assistance.add_application", None),
    "assistance:application_detail": ("assistance.view_application", "assistance.application"),
    "assistance:application_slip": ("assistance.view_application", "assistance.application"),
    "assistance:application_action": ("assistance.view_application", "assistance.application"),
    # The walk opens the outside receipts' scans; incomes' and assets' scans are the same view, tested on their own.
    "assistance:scan": ("assistance.view_application", "assistance.outsidecost"),
    "assistance:meeting_attachment": ("assistance.view_specialaidmeeting", "assistance.specialaidmeeting"),
    "assistance:case_queue": ("assistance.view_specialaidcase", None),
    "assistance:open_case": ("assistance.open_special_aid", None),
    "assistance:case_detail": ("assistance.view_specialaidcase", "assistance.specialaidcase"),
    "assistance:case_action": ("assistance.view_specialaidcase", "assistance.specialaidcase"),
    "hospital:login": (PUBLIC, None),
    "hospital:logout": (ANY_STAFF, None),
    "hospital:home": (HOSPITAL_NEED + "claims.view_claim", None),
    "hospital:eligibility": (HOSPITAL_NEED + "claims.lookup_eligibility", None),
    "hospital:claims": (HOSPITAL_NEED + "claims.view_claim", None),
    "hospital:slip": (HOSPITAL_NEED + "claims.view_claim", "claims.claim"),
    "hospital:batches": (HOSPITAL_NEED + "claims.view_hospitalbatch", None),
    "hospital:batch": (HOSPITAL_NEED + "claims.view_hospitalbatch", "claims.hospitalbatch"),
    "hospital:batch_new": (HOSPITAL_NEED + "claims.submit_batch", None),
    "hospital:batch_file": (HOSPITAL_NEED + "claims.submit_batch", None),
    "monitoring:dashboard": ("monitoring.view_warningitem", None),
    "monitoring:items": ("monitoring.view_warningitem", None),
    "monitoring:assign": ("monitoring.handle_warningitem", None),
    "monitoring:item": ("monitoring.view_warningitem", "monitoring.warningitem"),
    "monitoring:item_action": ("monitoring.handle_warningitem", "monitoring.warningitem"),
    "monitoring:export": ("monitoring.export_warnings", None),
    # The answer file updates identities: the identity import's right and the right to handle items ("&": both).
    "monitoring:answers": ("enrollment.add_identity&monitoring.handle_warningitem", None),
}


def role_codenames(role: str) -> set[str]:
    """The permissions ("app.codename") the table gives a role."""
    return {f"{app}.{codename}" for label, actions in ROLE_PERMISSIONS[role].items()
            for app, codename in permission_codenames(label, actions)}


def model_actions(role: str, model_label: str, *, at_province: bool, admin_page: bool = False) -> set[str]:
    """view/add/change/delete a role holds on a model, for a user at province level or below it (`admin_page`: what
    the model's admin pages allow, which is "view" only for the rows services write)."""
    actions = {a for a in ROLE_PERMISSIONS[role].get(model_label, "").split() if not a.startswith("+")}
    if (model_label in PROVINCE_WRITES and not at_province) or (admin_page and model_label in ADMIN_READ_ONLY):
        actions &= {"view"}
    return actions


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
        q = Q(pk__in=[])
        for model_label, actions in table.items():
            for app_label, codename in permission_codenames(model_label, actions):
                q |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(q))
