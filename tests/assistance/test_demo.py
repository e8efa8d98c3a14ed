"""The assistance part of the demo county: applications and cases at every stage, made through the services."""

import io

import pytest
from django.core.management import call_command

from assistance.models import Application, SpecialAidCase

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_demo_has_applications_and_cases_at_every_stage(tmp_path):
    out = io.StringIO()
    call_command("seed_demo", "--password-file", str(tmp_path / "logins.txt"), "--persons", "300", "--seed", "3",
                 stdout=out)
    assert "assistance: 7 applications" in out.getvalue()
    states = set(Application.objects.values_list("state", flat=True))
    assert states == {"received", "reviewed", "approved", "paid", "refused", "returned"}
    overdue = Application.objects.filter(state="received", due_on__lt=Application.objects.order_by(
        "-applied_on").values_list("applied_on", flat=True)[:1])
    assert overdue.exists()  # registered 40 days ago, initial review 10 working days late
    paid = Application.objects.get(state="paid")
    assert paid.granted_identities.exists()
    # The shipped Qiannan policy has an illness_poor rule, so the approval pays the household's settled claims.
    assert paid.assistance_granted > 0
    assert paid.supplements.exists()
    assert sum(s.amount for s in paid.supplements.all()) == paid.assistance_granted
    case_states = set(SpecialAidCase.objects.values_list("state", flat=True))
    assert case_states == {"opened", "decided", "approved", "paid", "closed", "rejected"}
