"""A county 系统管理员 manages the accounts of its own region and below only, grants nothing above itself, holds no
business right; login logs are read-only and scoped; the lockout admin action works (django-axes' own failed)."""

import pytest
from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import Client
from django.utils import timezone

from enrollment import roles
from enrollment.models import RegionMembership
from tests.factories import make_user

USERS = "/admin/auth/user/"


@pytest.fixture
def accounts(regions):
    return {
        "admin_a": make_user("admin_a", roles=(roles.ADMIN,), regions=(regions["a"],)),
        "clerk_a": make_user("clerk_a", roles=(roles.CLERK,), regions=(regions["a"],)),
        "clerk_b": make_user("clerk_b", roles=(roles.CLERK,), regions=(regions["b"],)),
        # Works for county A and for the prefecture: above county A's administrator.
        "straddler": make_user("straddler", roles=(roles.CLERK,), regions=(regions["a"], regions["prefecture"])),
        "province_admin": make_user("province_admin", roles=(roles.ADMIN,), regions=(regions["province"],)),
        "root": make_user("root", is_superuser=True),
    }


def test_administrator_holds_no_business_permission(accounts):
    admin_a = accounts["admin_a"]
    business = Permission.objects.filter(content_type__app_label__in=["enrollment", "claims"]).exclude(
        content_type__model__in=["regionmembership", "hospitalstaff", "hospital"])
    held = {f"{p.content_type.app_label}.{p.codename}" for p in business}
    assert not held & admin_a.get_all_permissions()
    assert admin_a.has_perm("auth.change_user") and not admin_a.has_perm("auth.delete_user")


def test_county_administrator_lists_only_accounts_within_reach(client, accounts):
    client.force_login(accounts["admin_a"])
    listed = {u.username for u in client.get(USERS).context["cl"].queryset}
    assert listed == {"admin_a", "clerk_a"}


@pytest.mark.parametrize("target", ["clerk_b", "straddler", "province_admin", "root"])
@pytest.mark.parametrize("page", ["change/", "password/", "history/", "delete/"])
def test_accounts_out_of_reach_are_404_on_every_page(client, accounts, target, page):
    client.force_login(accounts["admin_a"])
    url = f"{USERS}{accounts[target].pk}/{page}"
    # Nobody but a superuser deletes accounts (they are deactivated): the delete page is 403 for every account.
    assert client.get(url).status_code == (403 if page == "delete/" else 404)
    before = User.objects.get(pk=accounts[target].pk).password
    assert client.post(url, {"password1": "Another-Secret-321", "password2": "Another-Secret-321",
                             "usable_password": "true"}).status_code in (403, 404)
    assert User.objects.get(pk=accounts[target].pk).password == before


def test_password_of_an_account_within_reach_can_be_reset(client, accounts):
    client.force_login(accounts["admin_a"])
    url = f"{USERS}{accounts['clerk_a'].pk}/password/"
    response = client.post(url, {"password1": "Another-Secret-321", "password2": "Another-Secret-321",
                                 "usable_password": "true"})
    assert response.status_code == 302
    assert User.objects.get(pk=accounts["clerk_a"].pk).check_password("Another-Secret-321")


def test_province_administrator_reaches_every_county(client, accounts):
    client.force_login(accounts["province_admin"])
    listed = {u.username for u in client.get(USERS).context["cl"].queryset}
    assert listed == {"admin_a", "clerk_a", "clerk_b", "straddler", "province_admin"}  # never a superuser


def test_only_the_role_table_groups_are_offered_and_none_to_oneself(client, accounts):
    Group.objects.create(name="hand-made")
    client.force_login(accounts["admin_a"])
    form = client.get(f"{USERS}{accounts['clerk_a'].pk}/change/").context["adminform"].form
    assert {g.name for g in form.fields["groups"].queryset} == set(roles.ROLE_PERMISSIONS)
    own = client.get(f"{USERS}{accounts['admin_a'].pk}/change/")
    assert "groups" not in own.context["adminform"].form.fields  # read-only: no self-promotion
    assert not own.context["inline_admin_formsets"][0].has_add_permission


def test_forged_group_or_region_is_refused(client, accounts, regions):
    client.force_login(accounts["admin_a"])
    target = accounts["clerk_a"]
    membership = RegionMembership.objects.get(user=target)
    page = client.get(f"{USERS}{target.pk}/change/")
    hand_made = Group.objects.create(name="hand-made")
    data = {"username": target.username, "is_active": "on", "is_staff": "on", "groups": [hand_made.pk],
            "last_name": "", "first_name": "", "email": "",
            "region_memberships-TOTAL_FORMS": "1", "region_memberships-INITIAL_FORMS": "1",
            "region_memberships-MIN_NUM_FORMS": "0", "region_memberships-MAX_NUM_FORMS": "1000",
            "region_memberships-0-id": membership.pk, "region_memberships-0-user": target.pk,
            "region_memberships-0-region": regions["a"].pk}
    assert page.status_code == 200
    assert client.post(f"{USERS}{target.pk}/change/", data).status_code == 200  # the form refuses the group
    assert not target.groups.filter(name="hand-made").exists()
    data["groups"] = [Group.objects.get(name=roles.CLERK).pk]
    data["region_memberships-0-region"] = regions["prefecture"].pk  # above the administrator's own region
    assert client.post(f"{USERS}{target.pk}/change/", data).status_code == 200
    assert RegionMembership.objects.get(pk=membership.pk).region == regions["a"]


def test_groups_are_read_only_below_superuser(client, accounts):
    client.force_login(accounts["province_admin"])
    group = Group.objects.get(name=roles.CLERK)
    page = client.get(f"/admin/auth/group/{group.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "x"}).status_code == 403
    assert client.get("/admin/auth/group/add/").status_code == 403


# --- Reference data --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/admin/claims/calendaryear/add/", "/admin/claims/calendarday/add/",
                                  "/admin/enrollment/identitycategory/add/"])
def test_reference_data_is_changed_at_province_level_only(client, regions, path):
    county_head = make_user("head_a", roles=(roles.HEAD,), regions=(regions["a"],))
    province_head = make_user("head_p", roles=(roles.HEAD,), regions=(regions["province"],))
    category_path = "identitycategory" in path
    if category_path:  # no role edits identity categories: give both heads the right by hand
        for user in (county_head, province_head):
            user.user_permissions.add(Permission.objects.get(codename="add_identitycategory"))
    client.force_login(county_head)
    assert client.get(path).status_code == 403
    client.force_login(province_head)
    assert client.get(path).status_code == 200


# --- Login logs --------------------------------------------------------------------------------------------------

def _logs_for(username):
    now = timezone.now()
    common = {"username": username, "ip_address": "10.0.0.9", "user_agent": "test", "path_info": "/admin/login/",
              "http_accept": "*/*", "attempt_time": now}
    return (AccessAttempt.objects.create(get_data="", post_data="", failures_since_start=5, **common),
            AccessLog.objects.create(**common), AccessFailureLog.objects.create(locked_out=True, **common))


@pytest.mark.parametrize("model", ["accessattempt", "accesslog", "accessfailurelog"])
def test_login_logs_are_scoped_read_only_and_never_deleted_by_a_county(client, accounts, model):
    own = dict(zip(["accessattempt", "accesslog", "accessfailurelog"], _logs_for("clerk_a"), strict=True))[model]
    other = dict(zip(["accessattempt", "accesslog", "accessfailurelog"], _logs_for("clerk_b"), strict=True))[model]
    client.force_login(accounts["admin_a"])
    base = f"/admin/axes/{model}/"
    listed = {row.pk for row in client.get(base).context["cl"].queryset}
    assert own.pk in listed and other.pk not in listed
    page = client.get(f"{base}{own.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert client.get(f"{base}{other.pk}/change/").status_code == 404
    assert client.get(f"{base}{own.pk}/delete/").status_code == 403
    assert client.post(f"{base}{own.pk}/delete/", {"post": "yes"}).status_code == 403
    assert type(own).objects.filter(pk=own.pk).exists()


def test_axes_own_cleanup_action_failed_outside_a_login_request(rf, accounts):
    """The reproduction of the server error: django-axes' action reads request.axes_attempt_time, which only
    AxesMiddleware sets, and only while someone logs in."""
    request = rf.post("/admin/axes/accessattempt/")
    request.user = accounts["root"]
    request.session = {}
    request._messages = FallbackStorage(request)
    original = AccessAttemptAdmin(AccessAttempt, admin.site)
    with pytest.raises(AttributeError, match="axes_attempt_time"):
        original.cleanup_expired_attempts(request, AccessAttempt.objects.none())


def test_unlock_action_clears_the_lockout_of_accounts_within_reach_only(client, accounts):
    own_attempt, own_log, own_failure = _logs_for("clerk_a")
    other_attempt, *_ = _logs_for("clerk_b")
    client.force_login(accounts["admin_a"])
    response = client.post("/admin/axes/accessattempt/", {
        "action": "unlock_accounts", "_selected_action": [own_attempt.pk, other_attempt.pk], "index": 0})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(pk=own_attempt.pk).exists()  # the counter is reset
    assert AccessAttempt.objects.filter(pk=other_attempt.pk).exists()  # another county's account: untouched
    assert AccessLog.objects.filter(pk=own_log.pk).exists() and AccessFailureLog.objects.filter(pk=own_failure.pk)


def test_unlock_is_not_offered_without_the_right_to_change_accounts(client, regions):
    viewer = make_user("viewer", regions=(regions["a"],))
    viewer.user_permissions.add(Permission.objects.get(codename="view_accessattempt"))
    client.force_login(viewer)
    _logs_for("viewer")
    response = client.get("/admin/axes/accessattempt/")
    assert response.status_code == 200
    assert response.context["action_form"] is None or "unlock_accounts" not in {
        name for name, _ in response.context["action_form"].fields["action"].choices}


def test_locked_out_account_can_log_in_after_unlock(accounts, settings):
    settings.AXES_FAILURE_LIMIT = 2
    staff = Client()
    for _ in range(2):
        staff.post("/admin/login/", {"username": "clerk_a", "password": "wrong"})
    right = {"username": "clerk_a", "password": "pw-Secret-123"}
    assert staff.post("/admin/login/", right).status_code == 429  # locked out, even with the right password
    manager = Client()
    manager.force_login(accounts["admin_a"])
    attempt = AccessAttempt.objects.get(username="clerk_a")
    manager.post("/admin/axes/accessattempt/", {"action": "unlock_accounts", "_selected_action": [attempt.pk],
                                                "index": 0})
    assert staff.post("/admin/login/", right).status_code == 302


def test_calendar_service_refuses_a_county_user(regions):
    from django.core.exceptions import PermissionDenied

    from claims.models import CalendarYear
    from claims.services.calendar import load_year

    county_head = make_user("head_a", roles=(roles.HEAD,), regions=(regions["a"],))
    province_head = make_user("head_p", roles=(roles.HEAD,), regions=(regions["province"],))
    with pytest.raises(PermissionDenied):
        load_year(year=2031, rows=[], by=county_head)
    assert not CalendarYear.objects.filter(year=2031).exists()
    load_year(year=2031, rows=[], by=province_head)
    assert CalendarYear.objects.filter(year=2031).exists()


@pytest.mark.parametrize("path", [USERS, "/admin/axes/accessattempt/", "/admin/axes/accesslog/",
                                  "/admin/axes/accessfailurelog/"])
def test_account_lists_take_a_fixed_number_of_queries(client, accounts, regions, path,
                                                      django_assert_max_num_queries):
    client.force_login(accounts["admin_a"])
    client.get(path)  # warm the content-type and session caches
    for n in range(30):  # more accounts and logs, in and out of reach, must not add queries
        user = make_user(f"more{n}", roles=(roles.CLERK,), regions=(regions["a" if n % 2 else "b"],))
        _logs_for(user.username)
    with django_assert_max_num_queries(12):
        response = client.get(path)
    assert response.status_code == 200
