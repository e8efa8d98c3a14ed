"""Control characters typed into a form, a search box or a file name: a message, never a server error."""

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from enrollment.admin.people import PersonForm
from enrollment.models import Household, ImportJob
from tests.enrollment import _admin_world
from tests.enrollment._admin_world import ADMIN

_admin_over_plain_http = _admin_world._admin_over_plain_http
world = _admin_world.world


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1f", "\x0b"])
def test_every_text_form_field_refuses_control_characters(char):
    class AnyForm(forms.Form):
        name = forms.CharField()
        note = forms.CharField(widget=forms.Textarea, required=False)

    form = AnyForm(data={"name": f"张{char}三", "note": "第一行\r\n第二行\t缩进"})
    assert not form.is_valid()
    assert form.errors["name"][0] == (
        f"This text contains the invisible control character U+{ord(char):04X} at character 2; remove it (it is "
        "often left by copying from another program).")
    assert "note" not in form.errors


def test_the_person_form_names_the_field(regions):
    form = PersonForm(data={"name": "王\x00五", "id_number": "x", "region": regions["a"].pk})
    assert not form.is_valid()
    assert any("U+0000 at character 2" in message for message in form.errors["name"])


def test_a_nul_in_an_admin_form_is_a_field_error_and_nothing_is_saved(client, world, clerk_a):
    client.force_login(clerk_a)
    household = world["a"].household
    response = client.post(f"{ADMIN}/household/add/", {
        "number": "H\x00X", "region": household.region_id, "township": "镇", "village": "村\x01",
        "members-TOTAL_FORMS": "0", "members-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any("U+0000" in message for message in errors["number"])
    assert any("U+0001" in message for message in errors["village"])
    assert Household.objects.count() == 2  # the two of the world fixture, nothing added


@pytest.mark.parametrize("query", ["q=%00", "q=%E5%BC%A0%00", "region=1%00", "q%00=1", "plan_year=%1F"])
def test_a_control_character_in_a_query_string_is_a_400_with_the_reason(client, world, clerk_a, query):
    client.force_login(clerk_a)
    response = client.get(f"{ADMIN}/person/?{query}")
    assert response.status_code == 400
    assert "control character" in response.content.decode()


def test_an_upload_whose_name_holds_a_nul_is_stored_without_it(client, world, clerk_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(clerk_a)
    upload = SimpleUploadedFile("名单\x00.csv", "身份证号,姓名\n".encode(), content_type="text/csv")
    response = client.post(reverse("enrollment:import-start"), {"kind": "roster", "file": upload})
    assert response.status_code == 200
    assert ImportJob.objects.get().original_name == "名单.csv"


def test_the_json_api_answers_a_control_character_in_json(client, world, clerk_a):
    client.force_login(clerk_a)
    response = client.get("/api/eligibility/?id_number=5227%00")
    assert response.status_code == 400
    assert response.json()["field"] == "id_number" and "U+0000" in response.json()["error"]


def test_an_upload_named_after_an_id_number_is_recorded_masked(client, world, clerk_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(clerk_a)
    number = world["a"].person.id_number
    upload = SimpleUploadedFile(f"{number}张三.csv", "身份证号,姓名\n".encode(), content_type="text/csv")
    assert client.post(reverse("enrollment:import-start"), {"kind": "roster", "file": upload}).status_code == 200
    assert ImportJob.objects.get().original_name == f"{world['a'].person.masked_id_number}张三.csv"
