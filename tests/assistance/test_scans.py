"""Evidence scans on the registration page: income and asset evidence and outside receipts are stored under
MEDIA_ROOT with the attachment limits, linked from the application page and served only to users of the region."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from assistance.models import Application, DeclaredAsset, DeclaredIncome, OutsideCost
from enrollment import roles
from tests.factories import make_household, make_user

from .factories import assistance_policy, member

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
YEARS = (TODAY.year - 1, TODAY.year)
PDF = b"%PDF-1.4\n% income evidence\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ASSISTANCE_ATTACHMENT_MAX_BYTES = 1024


@pytest.fixture
def world(regions):
    assistance_policy(regions["prefecture"], effective_from=dt.date(TODAY.year - 1, 1, 1))
    a = regions["a"]
    household = make_household(a, number="H-A-1")
    member(household, a, codes=(), years=YEARS, name="病人", id_number="522701196005170013")
    member(household, a, codes=(), years=YEARS, name="配偶", id_number="52270219620618002X")
    return {"clerk": make_user("clerk", roles=(roles.CLERK,), regions=(a,)),
            "reviewer": make_user("reviewer", roles=(roles.REVIEWER,), regions=(a,)),
            "clerk_b": make_user("clerk_b", roles=(roles.CLERK,), regions=(regions["b"],)),
            "rural": make_user("rural", roles=(roles.RURAL_DEPT,), regions=(a,))}


def _data(**files):
    return {"household_number": "H-A-1", "applicant": "52270219620618002X", "patients": "522701196005170013",
            "applied_on": TODAY.isoformat(),
            "incomes": "522701196005170013, 0, 无收入证明\n52270219620618002X, 30000, 工资证明",
            "assets": "deposits, 100, 银行流水",
            "outside_costs": f"522701196005170013, {TODAY.isoformat()}, 药店发票, 800, 300, 0", **files}


def _upload(name, content, kind="application/pdf"):
    return SimpleUploadedFile(name, content, content_type=kind)


def test_scans_are_stored_linked_and_served_to_the_region(client, world, settings):
    client.force_login(world["clerk"])
    response = client.post(reverse("assistance:register_application"), _data(
        income_scan_2=_upload("工资.pdf", PDF), asset_scan_1=_upload("流水.png", PNG, "image/png"),
        scan_1=_upload("发票.pdf", PDF)))
    assert response.status_code == 302, response.content[:500]
    application = Application.objects.get()
    income = DeclaredIncome.objects.get(application=application, annual_income=30000)
    assert not DeclaredIncome.objects.get(application=application, annual_income=0).attachment
    asset, outside = DeclaredAsset.objects.get(), OutsideCost.objects.get()
    for row in (income, asset, outside):
        path = settings.MEDIA_ROOT / row.attachment.name
        assert path.is_file() and row.attachment.name.startswith("assistance/")
    urls = [reverse("assistance:scan", args=[kind, row.pk])
            for kind, row in (("income", income), ("asset", asset), ("outside", outside))]
    client.force_login(world["reviewer"])
    page = client.get(reverse("assistance:application_detail", args=[application.pk])).content.decode()
    assert all(url in page for url in urls)
    served = client.get(urls[0])
    assert served.status_code == 200 and b"".join(served.streaming_content) == PDF
    assert client.get(urls[1]).status_code == 200
    # Another county's clerk: the application and every scan of it are absent (404), not forbidden.
    client.force_login(world["clerk_b"])
    assert client.get(reverse("assistance:application_detail", args=[application.pk])).status_code == 404
    assert [client.get(url).status_code for url in urls] == [404, 404, 404]
    # A department user of the same county reads special aid, not applications.
    client.force_login(world["rural"])
    assert client.get(urls[0]).status_code == 403
    assert client.get(reverse("assistance:scan", args=["nothing", income.pk])).status_code in (403, 404)


@pytest.mark.parametrize(("field", "upload", "message"), [
    ("income_scan_1", ("证明.exe", PDF, "application/octet-stream"), "File extension “exe” is not allowed"),
    ("asset_scan_1", ("大.pdf", PDF * 100, "application/pdf"), "at most 1024 bytes are allowed"),
    ("income_scan_3", ("证明.pdf", PDF, "application/pdf"), "has no line 3 for it"),
    ("asset_scan_2", ("证明.pdf", PDF, "application/pdf"), "has no line 2 for it"),
])
def test_scan_limits_refuse_the_whole_registration(client, world, settings, field, upload, message):
    client.force_login(world["clerk"])
    response = client.post(reverse("assistance:register_application"), _data(**{field: _upload(*upload)}))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Application.objects.exists() and not OutsideCost.objects.exists()
    assert not (settings.MEDIA_ROOT / "assistance").exists()  # nothing stored either


def test_the_register_page_offers_the_scan_fields(client, world):
    client.force_login(world["clerk"])
    text = client.get(reverse("assistance:register_application")).content.decode()
    assert 'enctype="multipart/form-data"' in text
    for name in ("income_scan_1", "asset_scan_1", "scan_1"):
        assert f'name="{name}"' in text


def test_meeting_attachments_are_served_to_the_case_region_only(client, world, regions):
    from django.core.files.base import ContentFile

    from assistance.models import SpecialAidCase, SpecialAidMeeting

    from .factories import assistance_policy  # noqa: F401 (the world fixture loaded the policy)

    patient = member(make_household(regions["a"], number="H-A-2"), regions["a"], codes=(), years=YEARS,
                     name="会商对象", id_number="522701197001010017")
    case = SpecialAidCase.objects.create(
        number="SA-T-1", person=patient, region=regions["a"], policy=Application._meta.get_field("policy")
        .related_model.objects.first(), opened_on=TODAY, opened_by=world["clerk"], opening_unit="乡镇")
    meeting = SpecialAidMeeting.objects.create(
        case=case, held_on=TODAY, participants="乡村振兴局、卫健局", minutes="同意", recorded_by=world["clerk"],
        attachment=ContentFile(PDF, name="会议纪要.pdf"))
    url = reverse("assistance:meeting_attachment", args=[meeting.pk])
    client.force_login(world["rural"])
    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF
    detail = client.get(reverse("assistance:case_detail", args=[case.pk])).content.decode()
    assert url in detail and "/media/" not in detail
    client.force_login(world["clerk_b"])
    assert client.get(url).status_code == 404
