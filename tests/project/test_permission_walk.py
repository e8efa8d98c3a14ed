"""The permission walk: every admin page and action and every other page, for every role in two sibling counties
and at province level, against the role table (`enrollment.roles`).

Generated from the table and the live URLconf, not from a list kept here: a model registered in the admin, an
admin action or a URL name that the table does not mention fails with a message saying where to add it. The
expectations:
- allowed: the page answers (200; for other pages anything but 401/403/5xx);
- denied: 403 (or 404 where the row is out of scope too); anonymous users are sent to the login page (API: 401);
- scoped: another county's row (or an account out of reach) is absent from the list and 404 on every page.
Everything is built once per module (tests/project/_walk_world.py); each test walks one model or one page for every
user.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from enrollment import roles

from ._walk_world import build_world

REGISTERED = sorted(model._meta.label_lower for model in admin.site._registry)
STANDARD_PAGES = ("changelist", "add", "change", "delete", "history", "simple_history")
WORLD_FILE = "tests/project/_walk_world.py"


def _named_urls() -> list[str]:
    """Every URL name of the URLconf, namespaced, except the standard pages of registered models."""
    standard = {f"admin:{label.replace('.', '_')}_{page}" for label in REGISTERED for page in STANDARD_PAGES}
    names = []

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, ":".join(filter(None, [namespace, pattern.namespace])))
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.append(":".join(filter(None, [namespace, pattern.name])))

    walk(get_resolver().url_patterns, "")
    return sorted(set(names) - standard)


NAMED_URLS = _named_urls()


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture(scope="module", autouse=True)
def _request_figures():
    """Counts the walk's requests by answer; printed at the end of the module (seen with `pytest -s`)."""
    from collections import Counter

    counts = Counter()
    original = Client.request

    def counting(self, **request):
        response = original(self, **request)
        counts[response.status_code] += 1
        return response

    # Thousands of expected 403/404 answers: Django would log each with its traceback (most of the walk's time).
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    Client.request = counting
    yield counts
    Client.request = original
    request_log.setLevel(level)
    print(f"\npermission walk: {sum(counts.values())} requests, answers {dict(sorted(counts.items()))}")


@pytest.fixture
def clients(world, db):
    made = {}
    for walker in world.walkers:
        client = Client()
        client.force_login(walker.user)
        made[walker.key] = client
    return made


def _allows(role: str, need: str, label: str, *, at_province: bool) -> bool:
    """Whether the table gives `role` what an action or page needs: a model action or a permission "app.codename".

    "a|b": either permission; "a&b": both; "hospital:app.codename": the permission, for a user of a hospital."""
    if need.startswith(roles.HOSPITAL_NEED):
        return (roles.ROLE_SCOPES[role] == roles.SCOPE_HOSPITAL
                and _allows(role, need.removeprefix(roles.HOSPITAL_NEED), label, at_province=at_province))
    if "&" in need:
        return all(_allows(role, one, label, at_province=at_province) for one in need.split("&"))
    if "." in need:
        return any(one in roles.role_codenames(role) for one in need.split("|"))
    return need in roles.model_actions(role, label, at_province=at_province)


@contextmanager
def _recording_actions(model_admin):
    """Let the admin choose and authorise actions as usual, but record (name, row ids) instead of running them."""
    ran = []
    original = model_admin.get_actions

    def recorder(name):
        def record(modeladmin, request, queryset):
            ran.append((name, set(queryset.values_list("pk", flat=True))))
        return record

    def get_actions(request):
        return {name: (recorder(name), *rest) for name, (_func, *rest) in original(request).items()}

    model_admin.get_actions = get_actions
    try:
        yield ran
    finally:
        del model_admin.get_actions


# --- The table covers everything ---------------------------------------------------------------------------------

def test_every_registered_model_is_in_the_role_table():
    named = {label for table in roles.ROLE_PERMISSIONS.values() for label in table}
    missing = sorted(set(REGISTERED) - named - set(roles.PROVINCE_WRITES) - set(roles.SUPERUSER_ONLY))
    assert not missing, (f"Registered in the admin but given to no role in enrollment/roles.py ROLE_PERMISSIONS "
                         f"(add it, even if only for one role): {missing}")


def test_every_url_name_is_in_the_role_table():
    missing = [name for name in NAMED_URLS if name not in roles.VIEW_PERMISSIONS]
    assert not missing, (f"URL names the role table does not mention: add them to enrollment/roles.py "
                         f"VIEW_PERMISSIONS with the permission that opens them: {missing}")
    stale = sorted(set(roles.VIEW_PERMISSIONS) - set(NAMED_URLS))
    assert not stale, f"VIEW_PERMISSIONS names pages that do not exist: {stale}"


def test_every_admin_action_is_in_the_role_table(rf, admin_user):
    request = rf.get("/admin/")
    request.user = admin_user
    missing = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        if label in roles.SUPERUSER_ONLY:
            continue  # no role reaches its list, so no role is offered its actions (the walk checks the 403)
        listed = {**roles.SITE_ACTIONS, **roles.ADMIN_ACTIONS.get(label, {})}
        missing += [f"{label}.{name}" for name in model_admin.get_actions(request) if name not in listed]
    assert not missing, f"Admin actions the role table does not mention (enrollment/roles.py ADMIN_ACTIONS): {missing}"


def test_every_role_has_a_scope():
    missing = sorted(set(roles.ROLE_PERMISSIONS) - set(roles.ROLE_SCOPES))
    assert not missing, f"Roles without a scope in enrollment/roles.py ROLE_SCOPES: {missing}"


def test_no_role_holds_a_wildcard():
    for role, table in roles.ROLE_PERMISSIONS.items():
        assert "*" not in table and "*" not in table.values(), role


# --- Admin pages of every registered model --------------------------------------------------------------------------

@pytest.mark.parametrize("label", REGISTERED)
def test_admin_pages_of_every_role(world, clients, label):
    rows = world.rows.get(label)
    app_label, model_name = label.split(".")
    base = f"admin:{app_label}_{model_name}"
    if label in roles.SUPERUSER_ONLY and not rows:
        denied = [w.key for w in world.walkers for page in ("changelist", "add")
                  if clients[w.key].get(reverse(f"{base}_{page}")).status_code != 403]
        assert not denied, f"{label} is for superusers only, yet these users opened its pages: {denied}"
        return
    assert rows, f"{label} is registered in the admin but {WORLD_FILE} builds no row of it: add one per county"
    model_admin = admin.site._registry[next(m for m in admin.site._registry if m._meta.label_lower == label)]
    actions = {**roles.SITE_ACTIONS, **roles.ADMIN_ACTIONS.get(label, {})}
    problems = []

    def check(walker, what, response, expected):
        ok = response.status_code in expected if isinstance(expected, set | tuple) else response.status_code == expected
        if not ok:
            problems.append(f"{walker.key} {what}: {response.status_code}, expected {expected}")

    for walker in world.walkers:
        client = clients[walker.key]
        perms = roles.model_actions(walker.role, label, at_province=walker.at_province, admin_page=True)
        sees = bool(perms & {"view", "change"})
        response = client.get(reverse(f"{base}_changelist"))
        check(walker, "changelist", response, 200 if sees else 403)
        offered = set()
        if response.status_code == 200:
            listed = set(response.context["cl"].queryset.values_list("pk", flat=True))
            for side, row in rows.items():
                if (row.pk in listed) != walker.sees_row(side, row):
                    wrong = "absent" if walker.sees_row(side, row) else "listed"
                    problems.append(f"{walker.key} changelist: row of {side} {wrong}")
            action_form = response.context.get("action_form")
            offered = {name for name, _label in action_form.fields["action"].choices if name} if action_form else set()
        expected_actions = {name for name, need in actions.items()
                            if sees and _allows(walker.role, need, label, at_province=walker.at_province)}
        if offered != expected_actions:
            problems.append(f"{walker.key} actions offered {sorted(offered)}, expected {sorted(expected_actions)}")
        check(walker, "add", client.get(reverse(f"{base}_add")), 200 if "add" in perms else 403)

        for side, row in rows.items():
            in_scope = walker.sees_row(side, row)
            denied = {403, 404} if not in_scope else 403
            page = client.get(reverse(f"{base}_change", args=[row.pk]))
            check(walker, f"change {side}", page, (200 if in_scope else 404) if sees else denied)
            if page.status_code == 200 and "change" not in perms:
                # A record's state may lock it for everyone (a policy in force); a role without "change" never edits.
                if page.context.get("has_change_permission"):
                    problems.append(f"{walker.key} change {side}: editable, but the table gives no change")
                check(walker, f"change POST {side} (read-only)", client.post(page.wsgi_request.path, {}), 403)
            check(walker, f"delete {side}", client.get(reverse(f"{base}_delete", args=[row.pk])),
                  (200 if in_scope else 404) if "delete" in perms else denied)
            check(walker, f"history {side}", client.get(reverse(f"{base}_history", args=[row.pk])),
                  (200 if in_scope else 404) if sees else denied)
            version = row.history.order_by("-history_id").first() if hasattr(row, "history") else None
            if version is not None and hasattr(model_admin, "history_form_view"):
                version = version.history_id
                check(walker, f"history record {side}",
                      client.get(reverse(f"{base}_simple_history", args=[row.pk, version])),
                      (200 if in_scope else 404) if sees else denied)

        # Actions by POST, each action replaced by a recorder: one the user is not offered never runs, and an
        # offered one receives no row out of scope. (Running them for real is each feature's own test.)
        for name in actions:
            for side, row in rows.items():
                if name in offered and walker.sees_row(side, row):
                    continue
                with _recording_actions(model_admin) as ran:
                    response = client.post(reverse(f"{base}_changelist"),
                                           {"action": name, "_selected_action": [row.pk], "index": 0})
                if response.status_code >= 500:
                    problems.append(f"{walker.key} action {name} on {side}: server error")
                got = [pks for ran_name, pks in ran if ran_name == name]
                if name not in offered and got:
                    problems.append(f"{walker.key} action {name} ran although the table does not allow it")
                if any(row.pk in pks for pks in got):
                    problems.append(f"{walker.key} action {name} reached a row of {side}")

    assert not problems, f"{label}: {len(problems)} differences from the role table:\n" + "\n".join(problems)


# --- Every other page ------------------------------------------------------------------------------------------------

# URL arguments that are not a row of the page's model: a fixed, valid value. The review actions are posted empty:
# a form with required fields answers 400 to whoever may open it, and nothing runs.
FIXED_KWARGS = {
    ("claims:case_action", "action"): "pay",
    ("claims:batch_action", "action"): "pay_advance",
    ("enrollment:import-template", "kind"): "roster",
    ("assistance:application_action", "action"): "refuse",
    ("assistance:case_action", "action"): "record_meeting",
    ("assistance:scan", "kind"): "outside",
    ("monitoring:item_action", "action"): "note",
}
# Pages whose table entry needs a sample request: (query string, the permission that request needs).
SAMPLE_QUERIES = {
    "admin:autocomplete": ("?app_label=enrollment&model_name=identity&field_name=person", "enrollment.view_person"),
}
# Pages a permitted user cannot open with a made-up request; their own tests open them for real.
OPENED_BY_THEIR_OWN_TESTS = {
    "enrollment:import-confirm": "needs the signed token of the user's own checked file (tests/enrollment)",
}


def _url_arguments(name: str) -> list[str]:
    """Names of the URL's parameters."""
    resolver = get_resolver()
    namespace, _, plain = name.rpartition(":")
    if namespace:
        resolver = resolver.namespace_dict[namespace][1]
    possibilities = resolver.reverse_dict.getlist(plain)
    return list(possibilities[0][0][0][1]) if possibilities else []


def _urls(name: str, world, model_label: str | None) -> list[tuple[str, str]]:
    """(side, url) pairs for a page: one per row of its model for pages about one row, else one with side "*"."""
    params = _url_arguments(name)
    if not params:
        return [("*", reverse(name) + SAMPLE_QUERIES.get(name, ("",))[0])]
    fixed = {p: FIXED_KWARGS[name, p] for p in params if (name, p) in FIXED_KWARGS}
    row_params = [p for p in params if p not in fixed]
    if not row_params:
        return [("*", reverse(name, kwargs=fixed))]
    if model_label is None:
        return []  # a page needing a row the table does not name (admin:view_on_site): covered by its own checks
    assert model_label in world.rows, f"{name}: {WORLD_FILE} builds no row of {model_label}"
    return [(side, reverse(name, kwargs={**fixed, row_params[0]: row.pk}))
            for side, row in world.rows[model_label].items()]


def _open(client, url):
    """GET the page, or POST it empty where it accepts only POST (the actions of the review pages)."""
    response = client.get(url)
    return client.post(url, {}) if response.status_code == 405 else response


@pytest.mark.parametrize("name", [n for n in NAMED_URLS if n in roles.VIEW_PERMISSIONS])
def test_other_pages_of_every_role(world, clients, name):
    need, model_label = roles.VIEW_PERMISSIONS[name]
    if need == roles.VIEW_OF_MODEL_ASKED:
        need = SAMPLE_QUERIES[name][1]
    urls = _urls(name, world, model_label)
    problems = []
    anonymous = Client()
    for _side, url in urls:
        status = _open(anonymous, url).status_code
        if need != roles.PUBLIC and (status == 200 or status >= 500):
            problems.append(f"anonymous {url}: {status}, expected the login page, a redirect or 401")
    for walker in world.walkers:
        allowed = need in (roles.ANY_STAFF, roles.PUBLIC) or _allows(
            walker.role, need, "", at_province=walker.at_province)
        for side, url in urls:
            status = _open(clients[walker.key], url).status_code
            if status >= 500:
                problems.append(f"{walker.key} {url}: server error {status}")
            elif not allowed and status not in (403, 404):
                problems.append(f"{walker.key} {url}: {status}, expected 403 (no permission)")
            elif allowed and not walker.sees(side) and status != 404:
                problems.append(f"{walker.key} {url}: {status}, expected 404 (another county's row)")
            elif allowed and walker.sees(side) and status in (401, 403, 404) and name not in OPENED_BY_THEIR_OWN_TESTS:
                problems.append(f"{walker.key} {url}: {status}, expected the page (the table allows it)")
    assert not problems, f"{name}: {len(problems)} differences from the role table:\n" + "\n".join(problems)
