"""The claims admin: region scoping, the claim list and its search, settle / correct, read-only payment lines,
benefit rules on the policy version page, the calendar, and the workflow lists."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from claims.admin.benefits import BENEFIT_INLINES
from claims.models import BenefitPolicy, CalendarDay, CalendarYear, Claim, HospitalStaff, PaymentLine, Settlement
from claims.models.calendar import DayKind
from claims.models.choices import Layer
from claims.models.claims import ClaimStatus
from claims.services import settle_claim
from enrollment import roles
from enrollment.models import PolicyVersion
from tests.conftest import budgeted_count_extra
from tests.enrollment._admin_world import _admin_over_plain_http  # noqa: F401 - autouse: plain-HTTP test client
from tests.factories import make_region, make_user

from .factories import make_claim, make_hospital, make_patient, spec_example_policy

D = Decimal
CLAIMS = "/admin/claims/claim/"


@pytest.fixture
def policy(regions):
    """The SPEC §4.2 worked example, on the prefecture (both counties inherit it)."""
    return spec_example_policy(regions["prefecture"], date(2024, 1, 1))


@pytest.fixture
def side(regions, policy):
    """In each county: a hospital, a dibao patient insured in 2024 and the worked example's claim."""
    made = {}
    for key, name in (("a", "甲县病人"), ("b", "乙县病人")):
        hospital = make_hospital(regions[key], code=f"HOSP-{key.upper()}", name=f"{key}县人民医院")
        patient = make_patient(regions[key], name=name)
        made[key] = make_claim(patient, hospital, number=f"CLAIM-{key.upper()}")
    return made


@pytest.fixture
def settled(side, clerk_a, clerk_b):
    settle_claim(claim=side["a"], by=clerk_a)
    settle_claim(claim=side["b"], by=clerk_b)
    for claim in side.values():
        claim.refresh_from_db()
    return side


def change_url(claim, page: str = "change") -> str:
    return reverse(f"admin:claims_claim_{page}", args=[claim.pk])


# --- Region scoping ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["change", "slip", "settle", "correct", "history"])
def test_clerk_of_county_a_cannot_open_county_bs_claim(client, clerk_a, settled, page):
    client.force_login(clerk_a)
    assert client.get(change_url(settled["a"], page)).status_code in (200, 302)
    assert client.get(change_url(settled["b"], page)).status_code == 404


def test_settle_post_on_another_countys_claim_changes_nothing(client, clerk_a, side):
    client.force_login(clerk_a)
    assert client.post(change_url(side["b"], "settle")).status_code == 404
    assert not Settlement.objects.filter(claim=side["b"]).exists()


def test_changelist_shows_only_own_county_with_masked_ids(client, clerk_a, side):
    client.force_login(clerk_a)
    page = client.get(CLAIMS).content.decode()
    assert "CLAIM-A" in page and "CLAIM-B" not in page
    person = side["a"].person
    assert person.masked_id_number in page
    assert person.id_number not in page


def test_head_with_full_id_permission_sees_the_whole_number(client, head_a, side):
    client.force_login(head_a)
    page = client.get(CLAIMS).content.decode()
    assert side["a"].person.id_number in page


def test_province_user_sees_both_counties(client, province_user, side):
    client.force_login(province_user)
    page = client.get(CLAIMS).content.decode()
    assert "CLAIM-A" in page and "CLAIM-B" in page


def test_region_filter_offers_only_the_users_regions(client, clerk_a, side, regions):
    client.force_login(clerk_a)
    response = client.get(CLAIMS)
    region_filter = next(spec for spec in response.context["cl"].filter_specs
                         if getattr(spec, "parameter_name", None) == "region")
    offered = {value for value, _label in region_filter.lookup_choices}
    assert offered == {str(regions["a"].pk)}


def test_hospital_of_another_county_is_404_but_the_provinces_is_readable(client, clerk_a, side, regions):
    province_hospital = make_hospital(regions["province"], code="HOSP-P")
    client.force_login(clerk_a)
    assert client.get(reverse("admin:claims_hospital_change", args=[side["a"].hospital_id])).status_code == 200
    assert client.get(reverse("admin:claims_hospital_change", args=[side["b"].hospital_id])).status_code == 404
    response = client.get(reverse("admin:claims_hospital_change", args=[province_hospital.pk]))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]  # read from above, changed only at home


# --- The claim list ---------------------------------------------------------------------------------------------

def _changelist_queries(client, user) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(CLAIMS).status_code == 200
    return len(queries)


def test_changelist_query_count_does_not_grow_with_rows(client, clerk_a, side, regions, django_assert_max_num_queries):
    few = _changelist_queries(client, clerk_a)
    hospital = side["a"].hospital
    for n in range(25):
        make_claim(make_patient(regions["a"], name=f"病人{n}"), hospital, number=f"MORE-{n}")
    many = _changelist_queries(client, clerk_a)
    assert many == few
    client.force_login(clerk_a)
    with django_assert_max_num_queries(12 + budgeted_count_extra()):
        client.get(CLAIMS)


@pytest.mark.parametrize("term", ["CLAIM-A", "甲县", "ID"])
def test_search_by_claim_number_name_prefix_or_exact_id(client, clerk_a, side, regions, term):
    other = make_claim(make_patient(regions["a"], name="另一人"), side["a"].hospital, number="OTHER-1")
    if term == "ID":
        term = side["a"].person.id_number
    client.force_login(clerk_a)
    page = client.get(CLAIMS, {"q": term}).content.decode()
    assert "CLAIM-A" in page
    assert other.number not in page


def test_claim_number_search_is_exact(client, clerk_a, side):
    client.force_login(clerk_a)
    page = client.get(CLAIMS, {"q": "CLAIM"}).content.decode()
    assert "CLAIM-A" not in page


def test_filters_by_status_visit_type_hospital_level_and_source(client, clerk_a, settled):
    client.force_login(clerk_a)
    for params in ({"status__exact": "settled"}, {"visit_type__exact": "inpatient"},
                   {"hospital__level__exact": "county"}, {"source__exact": "direct"}):
        assert "CLAIM-A" in client.get(CLAIMS, params).content.decode(), params
    assert "CLAIM-A" not in client.get(CLAIMS, {"status__exact": "registered"}).content.decode()


def test_clerk_registers_a_claim_in_the_patients_region(client, clerk_a, side):
    client.force_login(clerk_a)
    person, hospital = side["a"].person, side["a"].hospital
    response = client.post(reverse("admin:claims_claim_add"), {
        "number": "NEW-1", "person": person.pk, "hospital": hospital.pk, "source": "manual",
        "visit_type": "outpatient", "admitted_on": "2024-05-02", "discharged_on": "", "diagnosis_code": "J20",
        "diagnosis_name": "急性支气管炎", "referral": "not_required", "total_cost": "300.00",
        "policy_scope_cost": "250.00", "settlements-TOTAL_FORMS": "0", "settlements-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    claim = Claim.objects.get(number="NEW-1")
    assert claim.region == person.region
    assert claim.created_by == clerk_a
    assert claim.status == ClaimStatus.REGISTERED
    assert claim.history.get().history_user == clerk_a


def test_a_settled_claim_is_read_only_on_its_page(client, clerk_a, settled):
    client.force_login(clerk_a)
    response = client.get(change_url(settled["a"]))
    assert "total_cost" not in response.context["adminform"].form.fields
    page = response.content.decode()
    assert change_url(settled["a"], "slip") in page
    assert change_url(settled["a"], "correct") in page
    assert change_url(settled["a"], "settle") not in page


# --- Settling and correcting -------------------------------------------------------------------------------------

def test_settle_button_previews_then_settles(client, clerk_a, side):
    client.force_login(clerk_a)
    claim = side["a"]
    assert change_url(claim, "settle") in client.get(change_url(claim)).content.decode()
    preview = client.get(change_url(claim, "settle")).content.decode()
    for figure in ("38625.00", "3818.75", "6689.38", "2000.00", "8866.87", "6689.375 → 6689.38"):
        assert figure in preview
    assert not Settlement.objects.filter(claim=claim).exists()  # a preview writes nothing

    response = client.post(change_url(claim, "settle"))
    assert response.status_code == 302
    settlement = Settlement.objects.get(claim=claim)
    assert settlement.created_by == clerk_a
    assert settlement.patient_pays == D("8866.87")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SETTLED


def test_settle_action_settles_the_selected_claims_of_own_county(client, clerk_a, side, regions):
    second = make_claim(make_patient(regions["a"], name="第二人"), side["a"].hospital, number="CLAIM-A2")
    client.force_login(clerk_a)
    response = client.post(CLAIMS, {"action": "settle_selected",
                                    "_selected_action": [side["a"].pk, second.pk, side["b"].pk]})
    assert response.status_code == 302
    assert set(Settlement.objects.values_list("claim__number", flat=True)) == {"CLAIM-A", "CLAIM-A2"}


def test_settle_action_reports_a_refusal(client, clerk_a, side, regions):
    uninsurable = make_claim(make_patient(regions["a"], name="无政策"), side["a"].hospital, number="OLD-1",
                             admitted_on=date(2019, 3, 1))  # no policy version in force in 2019
    client.force_login(clerk_a)
    response = client.post(CLAIMS, {"action": "settle_selected", "_selected_action": [uninsurable.pk]}, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    assert any("OLD-1" in m and "No policy version" in m for m in messages)
    assert not Settlement.objects.filter(claim=uninsurable).exists()


def test_a_reader_without_change_permission_cannot_settle(client, regions, side):
    reader = make_user("reader_a", roles=(roles.REVIEWER,), regions=(regions["a"],))
    client.force_login(reader)
    assert client.post(change_url(side["a"], "settle")).status_code == 403
    assert not Settlement.objects.exists()


def test_correct_reverses_and_settles_again_with_the_reason(client, clerk_a, settled):
    claim = settled["a"]
    old = Settlement.objects.get(claim=claim)
    client.force_login(clerk_a)
    form = client.get(change_url(claim, "correct")).context["adminform"].form
    # The form as shown (an unticked checkbox is simply not posted), with the corrected costs and a reason.
    data = {name: "" if form[name].value() is None else form[name].value()
            for name in form.fields if name not in ("reason", "is_special_disease")}
    data.update(reason="发票金额录入错误", total_cost="50000.00", policy_scope_cost="45000.00")
    response = client.post(change_url(claim, "correct"), data)
    assert response.status_code == 302, response.context["form"].errors

    old.refresh_from_db()
    assert old.reversed_at is not None and old.reversal_reason == "发票金额录入错误"
    new = Settlement.objects.get(claim=claim, reversed_at__isnull=True)
    assert new.basic + new.critical + new.assistance + new.hospital_borne + new.patient_pays == D("50000.00")
    claim.refresh_from_db()
    assert claim.total_cost == D("50000.00")
    corrected = claim.history.get(history_change_reason="发票金额录入错误", total_cost=D("50000.00"))
    assert corrected.history_user == clerk_a
    # The year holds only the new settlement: the old lines are cancelled by negative ones.
    basic_lines = PaymentLine.objects.filter(claim=claim, layer=Layer.BASIC)
    assert sum(line.amount for line in basic_lines) == new.basic


def test_correct_needs_a_reason(client, clerk_a, settled):
    client.force_login(clerk_a)
    response = client.post(change_url(settled["a"], "correct"), {"total_cost": "1.00"})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert Settlement.objects.filter(claim=settled["a"], reversed_at__isnull=True).count() == 1


# --- Payment lines: read-only for everyone -----------------------------------------------------------------------

def test_payment_lines_have_no_add_change_or_delete_even_for_a_superuser(client, settled, rf):
    superuser = make_user("root", is_superuser=True)
    line = PaymentLine.objects.filter(claim=settled["a"]).first()
    line_admin = admin.site.get_model_admin(PaymentLine)
    request = rf.get("/")
    request.user = superuser
    assert not line_admin.has_add_permission(request)
    assert not line_admin.has_change_permission(request, line)
    assert not line_admin.has_delete_permission(request, line)
    client.force_login(superuser)
    assert client.get(reverse("admin:claims_paymentline_add")).status_code == 403
    response = client.get(reverse("admin:claims_paymentline_change", args=[line.pk]))
    assert response.status_code == 200 and not response.context["has_change_permission"]
    assert client.post(reverse("admin:claims_paymentline_delete", args=[line.pk]), {"post": "yes"}).status_code == 403
    assert PaymentLine.objects.filter(pk=line.pk).exists()


def test_payment_line_list_is_scoped(client, clerk_a, settled):
    client.force_login(clerk_a)
    response = client.get(reverse("admin:claims_paymentline_changelist"))
    shown = {line.claim_id for line in response.context["cl"].result_list}
    assert shown == {settled["a"].pk}


def test_settlement_inline_shows_lines_read_only(client, clerk_a, settled):
    client.force_login(clerk_a)
    page = client.get(change_url(settled["a"])).content.decode()
    assert "payment-lines" in page and "38625.00" in page
    assert 'name="settlements-0-basic"' not in page  # no editable settlement field


# --- Benefit rules on the policy version page --------------------------------------------------------------------

def test_benefit_inlines_are_attached_to_the_policy_version_admin():
    policy_admin = admin.site.get_model_admin(PolicyVersion)
    assert all(inline in policy_admin.inlines for inline in BENEFIT_INLINES)


def test_head_edits_benefit_settings_on_the_policy_page(client, regions):
    head = make_user("head_p", roles=(roles.HEAD,), regions=(regions["prefecture"],))
    policy = spec_example_policy(regions["prefecture"], date(2025, 1, 1))
    client.force_login(head)
    response = client.get(reverse("admin:enrollment_policyversion_change", args=[policy.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    for prefix in ("benefits-TOTAL_FORMS", "basic_rules-TOTAL_FORMS", "critical_segments-TOTAL_FORMS",
                   "tilts-TOTAL_FORMS", "assistance_rules-TOTAL_FORMS", "special_diseases-TOTAL_FORMS"):
        assert prefix in page
    assert 'name="benefits-0-basic_annual_cap"' in page


def test_county_clerk_reads_but_cannot_change_the_prefectures_benefits(client, head_a, policy):
    client.force_login(head_a)
    response = client.get(reverse("admin:enrollment_policyversion_change", args=[policy.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="benefits-0-basic_annual_cap"' not in page
    assert "250000.00" in page
    assert BenefitPolicy.objects.get(policy=policy).basic_annual_cap == D("250000.00")


# --- Calendar -------------------------------------------------------------------------------------------------

@pytest.fixture
def calendar_admin(db):
    # The calendar is shared by every region: it is changed at province level only.
    return make_user("cal_admin", roles=(roles.HEAD,), regions=(make_region("520000", "贵州省"),))


def test_a_years_schedule_is_entered_on_the_year_page(client, calendar_admin):
    client.force_login(calendar_admin)
    response = client.post(reverse("admin:claims_calendaryear_add"), {
        "year": "2031", "source": "国办发明电〔2030〕7号",
        "schedule": "2031-01-01 holiday 元旦\n2031-10-01 休 国庆节\n2031-09-28 班 国庆节",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert CalendarYear.objects.filter(year=2031).exists()
    days = dict(CalendarDay.objects.filter(day__year=2031).values_list("day", "kind"))
    assert days == {date(2031, 1, 1): DayKind.HOLIDAY, date(2031, 10, 1): DayKind.HOLIDAY,
                    date(2031, 9, 28): DayKind.MAKEUP_WORKDAY}
    assert CalendarDay.objects.get(day=date(2031, 1, 1)).history.first().history_user == calendar_admin


def test_a_bad_schedule_is_refused_whole(client, calendar_admin):
    client.force_login(calendar_admin)
    response = client.post(reverse("admin:claims_calendaryear_add"), {
        "year": "2031", "schedule": "2031-01-01 holiday 元旦\n2031-10-08 班 国庆节\n2030-05-01 holiday 劳动节",
    })
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["schedule"])
    assert "2031-10-08" in errors and "2030-05-01" in errors
    assert not CalendarDay.objects.filter(day__year=2031).exists()
    assert not CalendarYear.objects.filter(year=2031).exists()


def test_recompute_action_reports(client, calendar_admin):
    year = CalendarYear.objects.create(year=2031)
    client.force_login(calendar_admin)
    response = client.post(reverse("admin:claims_calendaryear_changelist"),
                           {"action": "recompute_deadlines", "_selected_action": [year.pk]}, follow=True)
    assert any("recomputed" in str(m) for m in response.context["messages"])


def test_calendar_day_list_filters_by_year_and_kind(client, calendar_admin):
    CalendarDay.objects.create(day=date(2030, 1, 1), kind=DayKind.HOLIDAY, name="元旦")
    CalendarDay.objects.create(day=date(2031, 1, 1), kind=DayKind.HOLIDAY, name="元旦")
    CalendarDay.objects.create(day=date(2031, 2, 8), kind=DayKind.MAKEUP_WORKDAY, name="春节")
    client.force_login(calendar_admin)
    url = reverse("admin:claims_calendarday_changelist")
    shown = client.get(url, {"year": "2031"}).context["cl"].result_list
    assert {d.day for d in shown} == {date(2031, 1, 1), date(2031, 2, 8)}
    shown = client.get(url, {"year": "2031", "kind__exact": "makeup_workday"}).context["cl"].result_list
    assert [d.day for d in shown] == [date(2031, 2, 8)]


# --- Hospitals and the workflow lists ---------------------------------------------------------------------------

def test_the_hospital_page_lists_its_users_but_links_none(client, side, regions):
    """Linking is done on the user's page by choosing the hospital (tests/claims/test_hospital_portal.py), never by
    typing a user's internal id here. (A 系统管理员 only reads hospitals; a superuser may save the page.)"""
    system_admin = make_user("root", is_superuser=True)
    hospital_user = make_user("doctor", roles=(roles.HOSPITAL,))
    hospital = side["a"].hospital
    client.force_login(system_admin)
    response = client.post(reverse("admin:claims_hospital_change", args=[hospital.pk]), {
        "code": hospital.code, "name": hospital.name, "level": hospital.level, "region": hospital.region_id,
        "in_region": "on", "in_county": "on", "networked": "on",
        "staff-TOTAL_FORMS": "1", "staff-INITIAL_FORMS": "0", "staff-0-user": hospital_user.pk,
    })
    assert response.status_code == 302
    assert not HospitalStaff.objects.filter(user=hospital_user).exists()


def test_workflow_lists_are_read_only_and_link_to_their_pages(client, clerk_a, settled):
    from claims.models import ReimbursementCase

    case = ReimbursementCase.objects.create(claim=settled["a"], received_on=date(2024, 3, 15),
                                            sla_working_days=25)
    client.force_login(clerk_a)
    page = client.get(reverse("admin:claims_reimbursementcase_changelist")).content.decode()
    assert reverse("claims:case_detail", args=[case.pk]) in page
    assert client.get(reverse("admin:claims_reimbursementcase_add")).status_code == 403
    response = client.get(reverse("admin:claims_reimbursementcase_change", args=[case.pk]))
    assert response.status_code == 200 and not response.context["has_change_permission"]
    assert client.get(reverse("admin:claims_hospitalbatch_changelist")).status_code == 200


# --- Rates read as percent (75 %, not 0.7500) ----------------------------------------------------------------------

def test_a_read_only_policy_page_shows_its_rates_in_percent(client, head_a, policy):
    # A county head reads the prefecture's version: every rule is shown, none edited.
    client.force_login(head_a)
    page = client.get(reverse("admin:enrollment_policyversion_change", args=[policy.pk])).content.decode()
    assert 'name="basic_rules-0-ratio"' not in page
    for rate in ("75 %", "60 %", "70 %", "50 %", "5 %", "10 %"):
        assert f">{rate}<" in page or f": {rate}" in page, rate
    for fraction in ("0.7500", "0.6000", "0.7000", "0.5000", "0.0500", "0.1000", "0,7500"):
        assert fraction not in page


def test_an_editable_policy_page_types_rates_in_percent(client, regions, policy):
    head = make_user("head_pct", roles=(roles.HEAD,), regions=(regions["prefecture"],))
    client.force_login(head)
    page = client.get(reverse("admin:enrollment_policyversion_change", args=[policy.pk])).content.decode()
    assert re.search(r'name="basic_rules-0-ratio" value="75"', page)
    assert re.search(r'name="tilts-0-ratio_plus" value="5"', page)
    assert "0.7500" not in page


def test_the_batch_admin_page_shows_the_advance_ratio_in_percent(client, clerk_a, settled):
    from claims.models import HospitalBatch

    claim = settled["a"]
    batch = HospitalBatch.objects.create(
        hospital=claim.hospital, region=claim.region, number="PCT-1", period_start=date(2024, 3, 1),
        period_end=date(2024, 3, 31), received_on=date(2024, 4, 1), advance_ratio=D("0.7"),
        advance_working_days=10, advance_due_on=date(2024, 4, 15), final_working_days=15)
    client.force_login(clerk_a)
    page = client.get(reverse("admin:claims_hospitalbatch_change", args=[batch.pk])).content.decode()
    assert ">70 %<" in page and "0.7000" not in page
