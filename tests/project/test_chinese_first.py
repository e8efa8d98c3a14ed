"""With the project's own settings (zh-hans), staff read Chinese: the admin, and messages raised by rule code."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from enrollment.idnumbers import parse_id_number
from tests.conftest import require
from tests.project.test_translations import MO

pytestmark = pytest.mark.django_db


@pytest.fixture
def chinese(settings):
    require(MO.exists(), "the compiled Chinese catalogue is missing")
    settings.LANGUAGE_CODE = "zh-hans"
    with translation.override("zh-hans"):
        yield


def test_login_page_is_in_chinese(client, chinese):
    response = client.get("/admin/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'lang="zh-hans"' in html
    assert "医保帮扶经办系统" in html
    assert "用户名" in html


def test_admin_index_is_in_chinese_even_for_an_english_browser(client, chinese, clerk_a):
    client.force_login(clerk_a)
    html = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert "参保" in html
    assert "Enrollment ledger" not in html


def test_a_rule_error_reads_in_chinese(chinese):
    with pytest.raises(ValidationError) as excinfo:
        parse_id_number("110105194912310021")
    message = excinfo.value.messages[0]
    assert "校验" in message, message
