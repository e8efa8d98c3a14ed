"""The assistance pages: queues (query counts pinned, region-scoped), registration with precise line errors, the
application page and its printable sheet, the special aid pages and their actions."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from assistance.models import Application, SpecialAidCase
from assistance.services import applications as application_services
from assistance.services import special_aid as case_services
from assistance.services.applications import AssetItem, IncomeItem
from enrollment import roles
from tests.claims.factories import make_assistance_rule
from tests.factories import make_household, make_identity, make_user

from .factories import assistance_policy, member, settled_claim

pytestmark = pytest.mark.django_db
D = Decimal
TODAY = timezone.localdate()
YEARS = (TODAY.year - 1, TODAY.year)


@pytest.fixture
def world(regions):
    policy = assistance_policy(regions["prefecture"], effective_from=dt.date(TODAY.year - 1, 1, 1))
    make_assistance_rule(policy, "illness_poor", ratio="0.60", annual_limit="30000.00")
    household = make_household(regions["a"], number="H-A-1")
    patient = member(household, regions["a"], codes=(), years=YEARS, name="病人",
                     id_number="522701196005170013")
    spouse = member(household, regions["b"], codes=(), years=YEARS, name="配偶",
                    id_number="52270219620618002X")
    own = settled_claim(patient, admitted_on=TODAY - dt.timedelta(days=60), number="CLAIM-A")
    foreign = settled_claim(spouse, admitted_on=TODAY - dt.timedelta(days=40), number="CLAIM-B")
    a = regions["a"]
    return {"policy": policy, "household": household, "patient": patient, "spouse": spouse, "own": own,
            "foreign": foreign,
            "clerk": make_user("clerk", roles=(roles.CLERK,), regions=(a,)),
            "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=(a,)),
            "approver": make_user("approver", roles=(roles.APPROVER,), regions=(a,)),
            "clerk_b": make_user("clerk_b", roles=(roles.CLERK,), regions=(regions["b"],))}


def registered(world, n=1):
    return [application_services.register_application(
        by=world["clerk"], household=world["household"], applicant=world["spouse"], patients=[world["patient"]],
        applied_on=TODAY, incomes=[IncomeItem(world["patient"], D("0"), "证明"),
                                   IncomeItem(world["spouse"], D("30000"), "证明")],
        assets=[AssetItem("deposits", D("100"), "流水")]) for _ in range(n)]


def test_application_queue_query_count_does_not_grow_with_rows(client, world, django_assert_max_num_queries):
    registered(world, 3)
    client.force_login(world["reviewer"])
    url = reverse("assistance:application_queue")
    # 13: the filter form's region list is one more query than the ad-hoc search box had (on PostgreSQL the tab
    # counts run under a time budget: SAVEPOINT, SET LOCAL, the count, ROLLBACK TO, RELEASE); 14: a keyset page
    # that the dated applications do not fill reads the paused ones too (claims.paging).
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert response.status_code == 200 and response.content.decode().count("YSQ") >= 3
    registered(world, 20)
    with django_assert_max_num_queries(14):
        response = client.get(url + "?scope=all&due=on_track")
    assert response.status_code == 200


def test_queues_are_region_scoped(client, world):
    registered(world)
    client.force_login(world["clerk_b"])
    response = client.get(reverse("assistance:application_queue") + "?scope=all")
    assert "YSQ" not in response.content.decode()
    application = Application.objects.get()
    assert client.get(reverse("assistance:application_detail", args=[application.pk])).status_code == 404


def test_register_page_reports_errors_by_line_and_column_and_writes_nothing(client, world):
    client.force_login(world["clerk"])
    data = {"household_number": "H-A-1", "applicant": "52270219620618002X", "patients": "522701196005170013",
            "applied_on": TODAY.isoformat(),
            "incomes": "522701196005170013, 0, 无\n52270219620618002X, 三万, 证明",
            "assets": "boat, 100, x", "outside_costs": ""}
    response = client.post(reverse("assistance:register_application"), data)
    text = response.content.decode()
    assert response.status_code == 400
    assert "declared incomes line 2 column 2: &#x27;三万&#x27; is not an amount." in text
    assert "declared assets line 1 column 1: needs a kind" in text
    assert not Application.objects.exists()
    # A clerk types the kind in Chinese (the codes are accepted too).
    data.update(incomes="522701196005170013, 0, 无\n52270219620618002X, 30000, 证明", assets="存款, 100, 流水",
                outside_costs=f"522701196005170013, {TODAY.isoformat()}, 药店发票, 800, 300, 0")
    response = client.post(reverse("assistance:register_application"), data)
    application = Application.objects.get()
    assert list(application.assets.values_list("kind", flat=True)) == ["deposits"]
    assert response.status_code == 302 and response["Location"] == reverse(
        "assistance:application_detail", args=[application.pk])
    assert application.outside_costs.get().borne_after_insurance == D("500.00")


def test_application_page_shows_every_figure_and_hides_other_regions_claims(client, world,
                                                                            django_assert_max_num_queries):
    (application,) = registered(world)
    client.force_login(world["reviewer"])
    with django_assert_max_num_queries(40):
        response = client.get(reverse("assistance:application_detail", args=[application.pk]))
    text = response.content.decode()
    assert response.status_code == 200
    assert "CLAIM-A" in text and "CLAIM-B" not in text  # the spouse is insured in county B
    assert "insured in a region you do not work for" in text
    test = application_services.application_test(application)
    assert str(test.eligible_cost) in text and str(test.threshold) in text
    assert 'id="action-initial_review"' in text
    slip = client.get(reverse("assistance:application_slip", args=[application.pk]))
    assert slip.status_code == 200 and str(test.threshold) in slip.content.decode()


def test_actions_through_the_page_and_four_eyes_refusal(client, world):
    (application,) = registered(world)
    both = make_user("both", roles=(roles.REVIEWER, roles.APPROVER), regions=(world["household"].region,))
    client.force_login(both)
    url = reverse("assistance:application_action", args=[application.pk, "initial_review"])
    assert client.post(url, {"initial_review-note": "材料齐全"}).status_code == 302
    response = client.post(reverse("assistance:application_action", args=[application.pk, "approve"]), {})
    assert response.status_code == 403 and "different person" in response.content.decode()
    client.force_login(world["approver"])
    response = client.post(reverse("assistance:application_action", args=[application.pk, "approve"]), {})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.state == "approved"


def test_special_aid_pages(client, world, regions, django_assert_max_num_queries):
    make_identity(world["patient"], "stable_lifted", dt.date(TODAY.year - 1, 1, 1))
    client.force_login(world["clerk"])
    response = client.post(reverse("assistance:open_case"), {
        "person": "522701196005170013", "opened_on": TODAY.isoformat(), "opening_unit": "某镇",
        "claims": "CLAIM-A"})
    case = SpecialAidCase.objects.get()
    assert response.status_code == 302 and case.named_claims.get() == world["own"]
    for _ in range(5):
        case_services.open_case(by=world["clerk"], person=world["patient"], opened_on=TODAY, opening_unit="某镇")
    with django_assert_max_num_queries(10):
        assert client.get(reverse("assistance:case_queue")).status_code == 200
    url = reverse("assistance:case_action", args=[case.pk, "record_meeting"])
    response = client.post(url, {"record_meeting-held_on": TODAY.isoformat(),
                                 "record_meeting-participants": "乡村振兴局 王某", "record_meeting-minutes": "同意"})
    assert response.status_code == 302 and case.meetings.count() == 1
    response = client.get(reverse("assistance:case_detail", args=[case.pk]))
    assert response.status_code == 200 and 'id="action-decide"' in response.content.decode()
