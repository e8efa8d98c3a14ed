"""Workflow pages people can trust: confirmations with reasons, no silent exemption kind, lifting an exemption,
the four-eyes rule explained, closed cases without a clock, messages that name records, rates as percent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from claims.models import ReimbursementCase
from claims.models.reimbursement import CaseState
from claims.services import reimbursement as flow
from enrollment.templatetags.ybfmt import as_percent
from tests.claims import test_reimbursement_flow as flow_tests
from tests.claims.test_reimbursement_flow import reference_add, register

# The manual reimbursement tests' world: a county, the worked example's policy, a patient and the staff.
_fast_passwords_and_fresh_calendar = flow_tests._fast_passwords_and_fresh_calendar
world = flow_tests.world
staff = flow_tests.staff

D = date.fromisoformat


def _page(client, case) -> str:
    return client.get(reverse("claims:case_detail", args=[case.pk])).content.decode()


def _exempted_on(case, day: str) -> None:
    """Date the exemption event as if the head had exempted the case on ``day``."""
    case.events.filter(transition="exempt").update(at=f"{day}T10:00:00+08:00")


@pytest.mark.django_db
def test_lifting_an_exemption_restarts_the_clock_with_the_days_left(world, staff):
    case = register(world, staff, received_on="2026-11-02")
    with pytest.raises(ValidationError, match="not exempted"):
        flow.lift_exemption(case=case, by=staff["head"], reason="核实完毕")
    flow.exempt(case=case, by=staff["head"], kind="doubtful", reason="费用明细存疑")
    _exempted_on(case, "2026-11-09")
    with pytest.raises(PermissionDenied):
        flow.lift_exemption(case=case, by=staff["reviewer"], reason="核实完毕")
    with pytest.raises(ValidationError, match="reason"):
        flow.lift_exemption(case=case, by=staff["head"], reason="  ")
    flow.lift_exemption(case=case, by=staff["head"], reason="医院已复函，费用属实", on=D("2026-11-16"))
    case.refresh_from_db()
    assert not case.exempt and case.exempt_kind == "" and case.exempt_signed_off_by is None
    # The five working days exempted (10–16 November) do not count against the 25.
    assert case.sla_due_on == reference_add(D("2026-11-02"), 30)
    pause = case.pauses.get()
    assert (pause.paused_on, pause.resumed_on) == (D("2026-11-09"), D("2026-11-16"))
    assert case.events.last().transition == "lift_exemption"
    assert case.history.first().exempt is False  # history records the change


@pytest.mark.django_db
def test_lifting_while_waiting_for_documents_keeps_the_case_paused(world, staff):
    case = register(world, staff, received_on="2026-11-02")
    flow.exempt(case=case, by=staff["head"], kind="special", reason="特殊病案")
    _exempted_on(case, "2026-11-04")
    flow.return_for_documents(case=case, by=staff["reviewer"], documents_requested="发票原件", on=D("2026-11-06"))
    flow.lift_exemption(case=case, by=staff["head"], reason="不再属于特殊病案", on=D("2026-11-10"))
    case.refresh_from_db()
    assert case.state == CaseState.RETURNED and case.sla_due_on is None and not case.exempt
    flow.resubmit(case=case, by=staff["clerk"], on=D("2026-11-13"))
    case.refresh_from_db()
    # Exempted 4–6 Nov (2 working days), waiting 6–13 Nov (5 working days): 7 working days added.
    assert case.sla_due_on == reference_add(D("2026-11-02"), 32)


@pytest.mark.django_db
def test_the_exemption_kind_has_no_default_and_state_changes_need_confirmation(client, world, staff):
    case = register(world, staff)
    client.force_login(staff["head"])
    page = _page(client, case)
    assert '<option value="" selected>' in page.split('id="action-exempt"')[1].split("</form>")[0]
    url = reverse("claims:case_action", args=[case.pk, "exempt"])
    response = client.post(url, {"exempt-reason": "疑问病案", "exempt-confirm": "on"})
    assert response.status_code == 400  # no kind chosen
    response = client.post(url, {"exempt-kind": "doubtful", "exempt-reason": "疑问病案"})
    assert response.status_code == 400  # not confirmed
    case.refresh_from_db()
    assert not case.exempt
    response = client.post(url, {"exempt-kind": "doubtful", "exempt-reason": "疑问病案", "exempt-confirm": "on"},
                           follow=True)
    case.refresh_from_db()
    assert case.exempt and case.exempt_kind == "doubtful"
    assert case.claim.number in response.content.decode()  # the message names the record
    assert 'id="action-lift_exemption"' in _page(client, case)

    client.force_login(staff["clerk"])
    url = reverse("claims:case_action", args=[case.pk, "withdraw"])
    assert client.post(url, {"withdraw-confirm": "on"}).status_code == 400  # a reason is required
    assert client.post(url, {"withdraw-note": "申请人撤回"}).status_code == 400  # and a confirmation
    case.refresh_from_db()
    assert case.state == CaseState.RECEIVED
    assert client.post(url, {"withdraw-note": "申请人撤回", "withdraw-confirm": "on"}).status_code == 302
    case.refresh_from_db()
    assert case.state == CaseState.WITHDRAWN


@pytest.mark.django_db
def test_refusal_and_return_ask_for_confirmation(client, world, staff):
    case = register(world, staff)
    client.force_login(staff["reviewer"])
    url = reverse("claims:case_action", args=[case.pk, "return_for_documents"])
    assert client.post(url, {"return_for_documents-documents_requested": "发票原件"}).status_code == 400
    assert client.post(url, {"return_for_documents-documents_requested": "发票原件",
                             "return_for_documents-confirm": "on"}).status_code == 302
    case.refresh_from_db()
    flow.resubmit(case=case, by=staff["clerk"])
    client.force_login(staff["approver"])
    url = reverse("claims:case_action", args=[case.pk, "refuse"])
    assert client.post(url, {"refuse-reason": "未参保"}).status_code == 400
    assert ReimbursementCase.objects.get(pk=case.pk).state == CaseState.RECEIVED


@pytest.mark.django_db
def test_the_page_says_when_the_four_eyes_rule_hides_an_action(client, world, staff):
    case = register(world, staff)
    flow.initial_review(case=case, by=staff["dual"])
    client.force_login(staff["dual"])
    page = _page(client, case)
    assert 'id="action-re_review"' not in page
    assert 'id="four-eyes"' in page and "must be done by someone else" in page
    client.force_login(staff["approver"])
    page = _page(client, case)
    assert 'id="action-re_review"' in page and 'id="four-eyes"' not in page


@pytest.mark.django_db
def test_a_paid_case_shows_closed_not_remaining_days(client, world, staff):
    case = register(world, staff)
    flow.initial_review(case=case, by=staff["reviewer"])
    flow.re_review(case=case, by=staff["approver"])
    flow.pay(case=case, by=staff["approver"], paid_on=D("2026-10-10"), reference="ZF1")
    client.force_login(staff["approver"])
    clock = _page(client, case).split('id="case-clock">')[1].split("</dd>")[0]
    assert "Closed" in clock and "working day" not in clock


@pytest.mark.parametrize(("ratio", "shown"), [
    (Decimal("0.7000"), "70 %"), (Decimal("0.755"), "75.5 %"), (Decimal("1"), "100 %"), (Decimal("0"), "0 %"),
    ("0.05", "5 %"), (None, ""),
])
def test_rates_read_as_percent(ratio, shown):
    assert as_percent(ratio) == shown


@pytest.mark.django_db
def test_a_settlement_is_named_by_its_beijing_day(world, staff):
    from datetime import UTC, datetime

    from claims.models import Settlement

    case = register(world, staff)
    flow.initial_review(case=case, by=staff["reviewer"])
    settlement = Settlement.objects.get(claim=case.claim)
    # 2026-10-09 23:30 UTC is 10 October, 07:30 in Beijing.
    Settlement.objects.filter(pk=settlement.pk).update(created_at=datetime(2026, 10, 9, 23, 30, tzinfo=UTC))
    settlement.refresh_from_db()
    assert str(settlement).endswith("@ 2026-10-10")
