"""The payee's bank account of a manual reimbursement is masked like an ID number, and full views are logged."""

from django.urls import reverse

from enrollment.idnumbers import mask_bank_account
from enrollment.models import IdNumberAccess

from . import test_reimbursement_flow as flow_tests
from .test_reimbursement_flow import register

# The flow tests' fixtures (the settings one is autouse).
_fast_passwords_and_fresh_calendar = flow_tests._fast_passwords_and_fresh_calendar
staff = flow_tests.staff
world = flow_tests.world

ACCOUNT = "6228480000000000001"


def _html(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_case_pages_and_history_mask_the_account(client, world, staff):
    case = register(world, staff)
    case.payee_account = "6217000011112222"
    case.save()
    pages = [reverse("claims:case_detail", args=[case.pk]),
             f"/admin/claims/reimbursementcase/{case.pk}/change/",
             f"/admin/claims/reimbursementcase/{case.pk}/history/"]
    client.force_login(staff["reviewer"])
    for url in pages:
        html = _html(client, url)
        assert ACCOUNT not in html and "6217000011112222" not in html, url
    assert mask_bank_account("6217000011112222") in _html(client, pages[0])
    assert IdNumberAccess.objects.count() == 0

    client.force_login(staff["head"])
    assert "6217000011112222" in _html(client, pages[0])
    assert IdNumberAccess.objects.filter(user=staff["head"], kind="page").count() == 1
