"""The hospital side (issue 7 §2, issue 10 §1): hospital users see their own hospital only, in the admin, the
portal and every export; the portal's look-up, claims, slips and batches (申报)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from claims.models import BatchLine, Claim, EligibilityLookup, Hospital, HospitalBatch, HospitalStaff, Settlement
from claims.models.batches import BatchState
from claims.services import batches as flow
from enrollment import roles
from enrollment.scoping import scope_queryset
from tests.claims.hospital_world import PASSWORD, build, hospital_user
from tests.enrollment._admin_world import _admin_over_plain_http  # noqa: F401 - autouse: plain-HTTP test client
from tests.factories import make_user

API = "/api/eligibility/"
WORKED_EXAMPLE_FUND_PAID = Decimal("38625.00") + Decimal("3818.75") + Decimal("6689.38")


@pytest.fixture
def world(regions):
    return build(regions)


@pytest.fixture
def his(world):
    client = Client()
    client.force_login(world.hospital_user)
    return client


# --- Scoping: one hospital's rows, everywhere -------------------------------------------------------------------

@pytest.mark.parametrize(("model", "own_count"), [
    (Claim, 3), (Settlement, 3), (Hospital, 1), (HospitalStaff, 1), (HospitalBatch, 0), (BatchLine, 0)])
def test_a_hospital_user_sees_only_their_hospitals_rows(world, model, own_count):
    rows = scope_queryset(model.objects.all(), world.hospital_user)
    assert rows.count() == own_count
    if model is Claim:
        assert {claim.hospital_id for claim in rows} == {world.own.pk}


def test_a_hospital_user_sees_nothing_of_models_without_a_hospital(world):
    from enrollment.models import Person, Region

    assert scope_queryset(Person.objects.all(), world.hospital_user).count() == 0
    assert scope_queryset(Region.objects.all(), world.hospital_user).count() == 0


def test_bureau_staff_keep_their_region_scope(world, regions):
    clerk_a = make_user("clerk_a_only", roles=(roles.CLERK,), regions=(regions["a"],))
    assert set(scope_queryset(Claim.objects.all(), clerk_a).values_list("hospital__code", flat=True)) == {
        "H-OWN", "H-NEXT"}


def test_admin_lists_and_pages_of_a_staff_hospital_user_hold_their_hospital_only(world, client):
    user = hospital_user("his_staff", world.own, staff=True)
    client.force_login(user)
    listing = client.get(reverse("admin:claims_claim_changelist"))
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "H-OWN-001" in body and "H-NEXT-001" not in body and "H-FAR-001" not in body
    other = world.claims["H-NEXT"][0]
    assert client.get(reverse("admin:claims_claim_change", args=[other.pk])).status_code == 404
    assert client.get(reverse("admin:claims_hospital_change", args=[world.neighbour.pk])).status_code == 404
    hospitals = client.get(reverse("admin:claims_hospital_changelist")).content.decode()
    assert "H-OWN" in hospitals and "H-NEXT" not in hospitals
    slip = reverse("admin:claims_claim_slip", args=[other.pk])
    assert client.get(slip).status_code == 404


# --- Linking a user to a hospital ---------------------------------------------------------------------------------

def test_the_user_page_links_a_hospital_by_autocomplete(world, regions):
    admin_user = make_user("sysadmin", roles=(roles.ADMIN,), regions=(regions["prefecture"],))
    # An account works in a region (an administrator reaches only accounts within theirs).
    target = make_user("new_his", roles=(roles.HOSPITAL,), regions=(regions["a"],))
    client = Client()
    client.force_login(admin_user)
    url = reverse("admin:auth_user_change", args=[target.pk])
    page = client.get(url).content.decode()
    assert 'data-model-name="hospitalstaff" data-field-name="hospital"' in page and "admin-autocomplete" in page
    answer = client.get(reverse("admin:autocomplete"), {
        "term": "都匀", "app_label": "claims", "model_name": "hospitalstaff", "field_name": "hospital"}).json()
    assert {row["text"] for row in answer["results"]} == {"都匀市人民医院", "都匀市中医院"}

    form = _user_form(client, url)
    form.update({"hospital_staff-TOTAL_FORMS": "1", "hospital_staff-0-hospital": str(world.far.pk)})
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert HospitalStaff.objects.get(user=target).hospital == world.far


def _user_form(client, url) -> dict:
    """The user page's form as the browser would post it back unchanged."""
    import re

    page = client.get(url).content.decode()
    data = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page):
        data.setdefault(name, value)
    data.pop("_addanother", None)
    data.pop("_continue", None)
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.findall(r'<option value="([^"]*)"[^>]*selected', options)
        data.setdefault(name, chosen[0] if chosen else "")
    data["username"] = re.search(r'name="username"[^>]*value="([^"]*)"', page).group(1)
    data["is_active"] = "on"
    data["groups"] = [str(group.pk) for group in Group.objects.filter(name=roles.HOSPITAL)]
    data["_save"] = "Save"
    return data


def test_a_county_administrator_links_only_hospitals_of_their_county(world, regions):
    admin_a = make_user("sysadmin_a", roles=(roles.ADMIN,), regions=(regions["a"],))
    target = make_user("his_new_a", roles=(roles.HOSPITAL,), regions=(regions["a"],))
    client = Client()
    client.force_login(admin_a)
    url = reverse("admin:auth_user_change", args=[target.pk])
    form = _user_form(client, url)
    form.update({"hospital_staff-TOTAL_FORMS": "1", "hospital_staff-0-hospital": str(world.far.pk)})  # county B
    assert client.post(url, form).status_code == 200
    assert not HospitalStaff.objects.filter(user=target).exists()
    form["hospital_staff-0-hospital"] = str(world.own.pk)
    assert client.post(url, form).status_code == 302
    assert HospitalStaff.objects.get(user=target).hospital == world.own


def test_the_hospital_page_no_longer_asks_for_a_user_id(world, client, regions):
    client.force_login(make_user("sysadmin2", roles=(roles.ADMIN,), regions=(regions["prefecture"],)))
    page = client.get(reverse("admin:claims_hospital_change", args=[world.own.pk])).content.decode()
    assert "his_own" in page and 'name="staff-0-user"' not in page


# --- The look-up: recorded, rate-limited, cached per session ----------------------------------------------------

def test_every_look_up_is_recorded_with_who_when_which_and_the_result(world, his):
    person = world.claims["H-OWN"][0].person
    his.post(API, {"id_number": person.id_number, "date": "2026-09-03"})
    his.post(API, {"id_number": "52270119600517001X", "date": "2026-09-03"})  # invalid
    records = list(EligibilityLookup.objects.order_by("id"))
    assert [(r.user, r.hospital, r.id_number, r.outcome, r.categories, r.no_deposit) for r in records] == [
        (world.hospital_user, world.own, person.id_number, "insured", "dibao", False),
        (world.hospital_user, world.own, "52270119600517001X", "invalid", "", None)]
    assert records[0].on_date == dt.date(2026, 9, 3) and records[0].at is not None


def test_control_characters_in_the_id_number_are_a_400_and_recorded_without_them(world, his):
    response = his.post(API, {"id_number": "5227011960\x0005174655", "date": "2026-09-03"})
    assert response.status_code == 400 and response.json()["field"] == "id_number"
    record = EligibilityLookup.objects.get()
    assert record.outcome == "invalid" and "\x00" not in record.id_number and record.id_number.startswith("5227011960")


def test_look_up_records_are_immutable(world, his):
    his.post(API, {"id_number": world.claims["H-OWN"][0].person.id_number})
    record = EligibilityLookup.objects.get()
    record.outcome = "not_found"
    with pytest.raises(PermissionDenied):
        record.save()
    with pytest.raises(PermissionDenied):
        record.delete()
    with pytest.raises(PermissionDenied):
        EligibilityLookup.objects.update(outcome="not_found")
    with pytest.raises(PermissionDenied):
        EligibilityLookup.objects.all().delete()


def test_the_bureau_reads_the_records_read_only_and_scoped(world, his, regions, client):
    his.post(API, {"id_number": world.claims["H-OWN"][0].person.id_number})
    head_a = make_user("head_reader", roles=(roles.HEAD,), regions=(regions["a"],))
    head_b = make_user("head_b_reader", roles=(roles.HEAD,), regions=(regions["b"],))
    record = EligibilityLookup.objects.get()
    client.force_login(head_a)
    listing = client.get(reverse("admin:claims_eligibilitylookup_changelist"))
    assert listing.status_code == 200 and "his_own" in listing.content.decode()
    page = client.get(reverse("admin:claims_eligibilitylookup_change", args=[record.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(reverse("admin:claims_eligibilitylookup_delete", args=[record.pk])).status_code == 403
    client.force_login(head_b)
    assert "his_own" not in client.get(reverse("admin:claims_eligibilitylookup_changelist")).content.decode()
    client.force_login(world.clerk)  # a clerk has no business reading who looked up whom
    assert client.get(reverse("admin:claims_eligibilitylookup_changelist")).status_code == 403


def test_the_look_up_is_rate_limited_per_user_with_a_clear_message(world, his, settings):
    settings.ELIGIBILITY_RATE_LIMIT = "2/m"
    person = world.claims["H-OWN"][0].person
    statuses = [his.post(API, {"id_number": person.id_number}).status_code for _ in range(2)]
    refused = his.post(API, {"id_number": person.id_number})
    assert statuses == [200, 200] and refused.status_code == 429
    assert "at most 2 per minute" in refused.json()["error"] and int(refused["Retry-After"]) >= 1
    assert EligibilityLookup.objects.count() == 2  # the refused one looked nothing up
    other = Client()
    other.force_login(world.neighbour_user)  # per user: another user is not affected
    assert other.post(API, {"id_number": person.id_number}).status_code == 200


def test_the_rate_limit_message_is_chinese(world, his, settings):
    from django.utils import translation

    settings.ELIGIBILITY_RATE_LIMIT = "1/h"
    person = world.claims["H-OWN"][0].person
    his.post(API, {"id_number": person.id_number})
    with translation.override("zh-hans"):
        refused = his.post(API, {"id_number": person.id_number}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert refused.status_code == 429 and "过于频繁" in refused.json()["error"]


@pytest.mark.parametrize(("rate", "count", "seconds"), [("30/m", 30, 60), ("1/s", 1, 1), (" 500 / h ", 500, 3600),
                                                       ("7/d", 7, 86400)])
def test_rates_are_read_from_settings_text(rate, count, seconds):
    from claims.ratelimit import parse_rate

    assert (parse_rate(rate).count, parse_rate(rate).seconds) == (count, seconds)


@pytest.mark.parametrize("rate", ["", "30", "0/m", "30/w", "x/m", "-1/m"])
def test_a_malformed_rate_is_a_configuration_error(rate):
    from django.core.exceptions import ImproperlyConfigured

    from claims.ratelimit import parse_rate

    with pytest.raises(ImproperlyConfigured):
        parse_rate(rate)


def test_the_window_resets(db):
    from claims.ratelimit import hit, parse_rate

    rate = parse_rate("2/m")
    assert [hit("t", 1, rate, now=120.0).allowed for _ in range(3)] == [True, True, False]
    assert hit("t", 1, rate, now=150.0).retry_after == 30
    assert hit("t", 1, rate, now=180.0).allowed  # the next minute


@pytest.mark.parametrize("change", ["unlink", "drop_role", "deactivate", "password"])
def test_the_session_cache_follows_changes_to_the_user(world, his, change):
    person = world.claims["H-OWN"][0].person
    assert his.post(API, {"id_number": person.id_number}).status_code == 200
    user = world.hospital_user
    if change == "unlink":
        HospitalStaff.objects.filter(user=user).delete()
    elif change == "drop_role":
        user.groups.clear()
    elif change == "deactivate":
        user.is_active = False
        user.save()
    else:
        user.set_password("another-Secret-456")
        user.save()
    assert his.post(API, {"id_number": person.id_number}).status_code in (401, 403)


def test_a_policy_change_reaches_the_next_look_up(world, his, regions):
    from claims.models import BenefitPolicy
    from enrollment.models import IdentityCategory
    from tests.claims.factories import spec_example_policy

    person = world.claims["H-OWN"][0].person
    assert his.post(API, {"id_number": person.id_number}).json()["no_deposit"] is False
    # The prefecture's version has settlements and is frozen; the county's own version now takes precedence.
    county = spec_example_policy(regions["a"], effective_from=dt.date(2026, 1, 1))
    BenefitPolicy.objects.get(policy=county).no_deposit_categories.add(IdentityCategory.objects.get(code="dibao"))
    answer = his.post(API, {"id_number": person.id_number}).json()
    assert answer["no_deposit"] is True and answer["policy"] == county.code


# --- Portal: log-in, pages, isolation -----------------------------------------------------------------------------

def test_a_hospital_user_logs_in_to_the_portal_without_being_staff(world):
    client = Client()
    page = client.get(reverse("hospital:login"))
    assert page.status_code == 200
    response = client.post(reverse("hospital:login"), {"username": "his_own", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("hospital:home")
    home = client.get(reverse("hospital:home"))
    assert home.status_code == 200 and "都匀市人民医院" in home.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302  # the back office stays closed to them


def test_bureau_staff_cannot_use_the_portal_log_in(world):
    client = Client()
    response = client.post(reverse("hospital:login"), {"username": "clerk_world", "password": PASSWORD})
    assert response.status_code == 200 and "not linked to a hospital" in response.content.decode()
    client.force_login(world.clerk)
    assert client.get(reverse("hospital:home")).status_code == 403


def test_the_portal_sends_anonymous_users_to_its_log_in(db):
    response = Client().get(reverse("hospital:claims"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("hospital:login"))


def test_the_portal_look_up_form_answers_and_records(world, his):
    person = world.claims["H-OWN"][0].person
    page = his.post(reverse("hospital:eligibility"), {"id_number": person.id_number, "date": "2026-09-03"})
    body = page.content.decode()
    assert page.status_code == 200 and person.masked_id_number in body and person.id_number not in body
    assert "Insured (plan year 2026)" in body
    assert EligibilityLookup.objects.filter(user=world.hospital_user).count() == 1
    bad = his.post(reverse("hospital:eligibility"), {"id_number": "123", "date": "2026-09-03"})
    assert bad.status_code == 400 and "18 characters" in bad.content.decode()


def test_the_claims_page_lists_own_settled_claims_with_filters(world, his, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):
        page = his.get(reverse("hospital:claims"))
    body = page.content.decode()
    assert all(f"H-OWN-00{n}" in body for n in (1, 2, 3))
    assert "H-NEXT" not in body and "H-FAR" not in body
    filtered = his.get(reverse("hospital:claims"), {"admitted_after": "2026-09-02", "admitted_before": "2026-09-02"})
    assert "H-OWN-002" in filtered.content.decode() and "H-OWN-001" not in filtered.content.decode()
    assert "H-OWN-003" in his.get(reverse("hospital:claims"), {"number": "H-OWN-003"}).content.decode()


def test_slips_of_own_claims_only(world, his):
    own, other = world.claims["H-OWN"][0], world.claims["H-NEXT"][0]
    slip = his.get(reverse("hospital:slip", args=[own.pk]))
    assert slip.status_code == 200 and own.number in slip.content.decode()
    assert his.get(reverse("hospital:slip", args=[other.pk])).status_code == 404


# --- Batches: submission, the bureau's flow, what the hospital sees -------------------------------------------------

def test_submit_the_claims_of_a_period(world, his):
    new = reverse("hospital:batch_new") + "?period_start=2026-09-01&period_end=2026-09-30"
    page = his.get(new).content.decode()
    assert "H-OWN-001" in page and "H-NEXT-001" not in page
    ids = [str(claim.pk) for claim in world.claims["H-OWN"][:2]]
    response = his.post(new, {"claim": ids})
    batch = HospitalBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("hospital:batch", args=[batch.pk])
    assert batch.hospital == world.own and batch.state == BatchState.RECEIVED
    assert batch.received_on == timezone.localdate()
    assert batch.declared_total == 2 * WORKED_EXAMPLE_FUND_PAID
    assert batch.advance_amount == (batch.declared_total * Decimal("0.70")).quantize(Decimal("0.01"))
    assert batch.events.get().by == world.hospital_user
    assert "H-OWN-001" not in his.get(new).content.decode()  # declared once only


def test_a_hospital_cannot_declare_another_hospitals_claim(world, his):
    new = reverse("hospital:batch_new") + "?period_start=2026-09-01&period_end=2026-09-30"
    response = his.post(new, {"claim": [str(world.claims["H-NEXT"][0].pk)]})
    assert response.status_code == 400 and HospitalBatch.objects.count() == 0
    with pytest.raises(ValidationError):
        flow.submit_batch(period=(dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
                          claims=[world.claims["H-FAR"][0].pk], by=world.hospital_user)


def test_only_hospital_users_with_the_right_submit(world):
    with pytest.raises(PermissionDenied):
        flow.submit_batch(period=(dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
                          claims=[world.claims["H-OWN"][0].pk], by=world.clerk)
    unlinked = make_user("his_unlinked", roles=(roles.HOSPITAL,))
    with pytest.raises(PermissionDenied):
        flow.submit_batch(period=(dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
                          claims=[world.claims["H-OWN"][0].pk], by=unlinked)


def _csv(rows: list[str]) -> io.BytesIO:
    upload = io.BytesIO(("\n".join(rows) + "\n").encode("utf-8"))
    upload.name = "batch.csv"
    return upload


def test_a_batch_file_with_errors_names_each_row_and_submits_nothing(world, his):
    own, other = world.claims["H-OWN"], world.claims["H-NEXT"]
    rows = ["单据号,申报金额", f"{own[0].number},{WORKED_EXAMPLE_FUND_PAID}", f"{other[0].number},",
            f"{own[0].number},", f"{own[1].number},1.00", "NOPE-1,", f"{own[2].number},abc"]
    response = his.post(reverse("hospital:batch_file"), {
        "period_start": "2026-09-01", "period_end": "2026-09-30", "file": _csv(rows)})
    body = response.content.decode()
    assert response.status_code == 400 and HospitalBatch.objects.count() == 0
    assert f"Row 3, column claim number: no claim {other[0].number} of your hospital." in body
    assert f"Row 4, column claim number: claim {own[0].number} is already on row 2." in body
    assert "Row 5, column declared amount: 1.00 does not match" in body
    assert "Row 6, column claim number: no claim NOPE-1 of your hospital." in body
    assert "Row 7, column declared amount:" in body


def test_a_clean_batch_file_is_submitted(world, his):
    rows = ["单据号,申报金额", *[f"{claim.number},{WORKED_EXAMPLE_FUND_PAID}" for claim in world.claims["H-OWN"]]]
    response = his.post(reverse("hospital:batch_file"), {
        "period_start": "2026-09-01", "period_end": "2026-09-30", "file": _csv(rows)})
    assert response.status_code == 302
    assert HospitalBatch.objects.get().lines.count() == 3


def test_a_batch_file_outside_the_period_is_refused(world, his):
    rows = ["单据号", world.claims["H-OWN"][0].number]
    response = his.post(reverse("hospital:batch_file"), {
        "period_start": "2026-10-01", "period_end": "2026-10-31", "file": _csv(rows)})
    assert response.status_code == 400 and "outside the period" in response.content.decode()


def test_the_hospital_follows_its_batch_to_the_final_payment_and_sees_deductions(world, his, regions,
                                                                                 django_assert_max_num_queries):
    own = world.claims["H-OWN"]
    batch = flow.submit_batch(period=(dt.date(2026, 9, 1), dt.date(2026, 9, 30)), claims=[c.pk for c in own],
                              by=world.hospital_user)
    payer = make_user("payer_w", roles=(roles.APPROVER,), regions=(regions["a"],))
    auditor = make_user("auditor_w", roles=(roles.REVIEWER,), regions=(regions["a"],))
    flow.pay_advance(batch=batch, by=payer, paid_on=batch.received_on, reference="ADV-1")
    flow.audit(batch=batch, by=auditor, rejections={own[0].pk: "无转诊手续"},
               deductions={own[1].pk: (Decimal("100.00"), "超限价药品")})
    batch.refresh_from_db()
    assert batch.approved_total == 2 * WORKED_EXAMPLE_FUND_PAID - Decimal("100.00")
    assert batch.final_amount == batch.approved_total - batch.advance_amount
    flow.pay_final(batch=batch, by=payer, paid_on=batch.received_on, reference="FIN-1")
    with django_assert_max_num_queries(16):
        page = his.get(reverse("hospital:batch", args=[batch.pk]))
    body = page.content.decode()
    assert "无转诊手续" in body and "超限价药品" in body and "100.00 deducted" in body
    assert "Closed" in body and "FIN-1" in body  # the reference lets the hospital find the payment
    listing = his.get(reverse("hospital:batches")).content.decode()
    assert batch.number in listing
    other = Client()
    other.force_login(world.neighbour_user)
    assert other.get(reverse("hospital:batch", args=[batch.pk])).status_code == 404
    assert batch.number not in other.get(reverse("hospital:batches")).content.decode()


@pytest.mark.parametrize(("amount", "fragment"), [
    ("0.00", "more than 0"), ("-5.00", "more than 0"), ("99999999.00", "at most the declared"),
    ("1.005", "yuan and fen")])
def test_a_bad_deduction_is_refused_with_the_claim_named(world, regions, amount, fragment):
    own = world.claims["H-OWN"]
    batch = flow.submit_batch(period=(dt.date(2026, 9, 1), dt.date(2026, 9, 30)), claims=[own[0].pk],
                              by=world.hospital_user)
    payer = make_user("payer_d", roles=(roles.APPROVER,), regions=(regions["a"],))
    auditor = make_user("auditor_d", roles=(roles.REVIEWER,), regions=(regions["a"],))
    flow.pay_advance(batch=batch, by=payer, paid_on=batch.received_on, reference="ADV-1")
    with pytest.raises(ValidationError) as error:
        flow.audit(batch=batch, by=auditor, rejections={}, deductions={own[0].pk: (Decimal(amount), "理由")})
    assert fragment in " ".join(error.value.messages) and own[0].number in " ".join(error.value.messages)
    batch.refresh_from_db()
    assert batch.state == BatchState.ADVANCE_PAID


def test_the_bureau_audit_form_takes_deductions(world, regions, client):
    own = world.claims["H-OWN"]
    batch = flow.submit_batch(period=(dt.date(2026, 9, 1), dt.date(2026, 9, 30)), claims=[c.pk for c in own],
                              by=world.hospital_user)
    payer = make_user("payer_f", roles=(roles.APPROVER,), regions=(regions["a"],))
    auditor = make_user("auditor_f", roles=(roles.REVIEWER,), regions=(regions["a"],))
    flow.pay_advance(batch=batch, by=payer, paid_on=batch.received_on, reference="ADV-1")
    client.force_login(auditor)
    response = client.post(reverse("claims:batch_action", args=[batch.pk, "audit"]), {
        "audit-rejections": f"{own[0].number} 重复收费\n{own[1].number} 250.50 超标准收费"})
    assert response.status_code == 302
    lines = {line.claim_id: line for line in batch.lines.all()}
    assert (lines[own[0].pk].approved, lines[own[0].pk].rejection_reason) == (False, "重复收费")
    assert (lines[own[1].pk].approved, lines[own[1].pk].deduction, lines[own[1].pk].rejection_reason) == (
        True, Decimal("250.50"), "超标准收费")
    assert lines[own[2].pk].approved and lines[own[2].pk].deduction == 0


@pytest.mark.parametrize(("name", "params", "limit"), [
    ("hospital:home", {}, 8),
    ("hospital:batches", {}, 8),
    ("hospital:batch_new", {"period_start": "2026-09-01", "period_end": "2026-09-30"}, 8),
    ("hospital:eligibility", {}, 6),
])
def test_portal_pages_have_a_bounded_query_count(world, his, name, params, limit, django_assert_max_num_queries):
    for n in range(3):  # the count must not grow with the hospital's batches
        flow.submit_batch(period=(dt.date(2026, 9, 1 + n), dt.date(2026, 9, 1 + n)),
                          claims=[world.claims["H-OWN"][n].pk], by=world.hospital_user)
    with django_assert_max_num_queries(limit):
        response = his.get(reverse(name), params)
    assert response.status_code == 200


def test_the_portal_form_shares_the_rate_limit(world, his, settings):
    settings.ELIGIBILITY_RATE_LIMIT = "1/m"
    person = world.claims["H-OWN"][0].person
    assert his.post(API, {"id_number": person.id_number}).status_code == 200
    page = his.post(reverse("hospital:eligibility"), {"id_number": person.id_number, "date": "2026-09-03"})
    assert page.status_code == 429 and "at most 1 per minute" in page.content.decode()
    assert int(page["Retry-After"]) >= 1
