"""No English left for a Chinese user: every admin changelist, add and change page, the queues, case and batch
pages, the workbench and the ledger pages, rendered as each role on the demo county, hold no untranslated text.

Text is what a user reads: text nodes outside <script>/<style>, plus titles, placeholders and button labels.
A word of three or more ASCII letters is English unless it is data (a username, a code, a number with letters) or
in the allow-list of terms staff use as they are (CSV, ICD).
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import NoReverseMatch, reverse
from django.utils import translation

from claims.models import HospitalBatch, ReimbursementCase, SpecialDisease
from enrollment.models import IdentityCategory, LedgerRun
from tests.conftest import require
from tests.project.test_translations import MO

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Terms staff use untranslated, and the admin's own data-like tokens.
ALLOWED = {"csv", "xlsx", "icd", "yaml", "json", "gb18030", "utf", "bom", "xls", "excel", "url", "api", "ok",
           # Django's own Chinese for a multiple select: “按住 Control 键，或者 Mac 上的 Command 键……”
           "control", "command", "mac"}
WORD = re.compile(r"(?<![\w./@-])[A-Za-z]{3,}(?![\w./@-])")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "noscript", "template"):
            self._skip += 1
        attrs = dict(attrs)
        for name in ("title", "placeholder", "alt", "aria-label"):
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "noscript", "template") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def english_words(html: str, data_words: set[str]) -> list[str]:
    parser = _Text()
    parser.feed(html)
    found = []
    for part in parser.parts:
        for word in WORD.findall(part):
            if word.lower() not in ALLOWED and word not in data_words:
                found.append(word)
    return found


def test_english_words_are_found_and_data_is_not():
    html = ('<p>Save and continue</p><p title="Choose all">选择</p><script>var x = "Select all";</script>'
            '<p>admin 结算 CSV ZY2026120100012 qiannan-2019 clerk_522701</p>')
    assert english_words(html, {"admin"}) == ["Save", "and", "continue", "Choose", "all"]


@pytest.fixture
def demo(settings, tmp_path):
    require(MO.exists(), "the compiled Chinese catalogue is missing")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LANGUAGE_CODE = "zh-hans"
    call_command("seed_demo", "--password-file", str(tmp_path / "logins.txt"), "--persons", "300", "--seed", "5",
                 stdout=io.StringIO())
    with translation.override("zh-hans"):
        yield


def _admin_pages(user) -> list[str]:
    urls = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        name = f"admin:{opts.app_label}_{opts.model_name}"
        try:
            urls.append(reverse(f"{name}_changelist"))
            urls.append(reverse(f"{name}_add"))
        except NoReverseMatch:
            continue
        scoped = model_admin.get_queryset(type("R", (), {"user": user, "GET": {}, "method": "GET"})())
        first = scoped.order_by("pk").values_list("pk", flat=True).first() if scoped is not None else None
        if first is not None:
            urls.append(reverse(f"{name}_change", args=[first]))
    return urls


def _custom_pages() -> list[str]:
    urls = ["/admin/", reverse("claims:case_queue"), reverse("claims:case_queue") + "?scope=all",
            reverse("claims:batch_queue"), reverse("claims:register_case"),
            reverse("admin:enrollment_ledgerrun_build"), reverse("admin:enrollment_enrollment_coverage"),
            reverse("admin:claims_claim_eligibility")]
    urls += [reverse("claims:case_detail", args=[pk]) for pk in ReimbursementCase.objects.values_list("pk", flat=True)]
    urls += [reverse("claims:batch_detail", args=[pk]) for pk in HospitalBatch.objects.values_list("pk", flat=True)]
    urls += [reverse("admin:enrollment_ledgerrun_status", args=[pk]) for pk in LedgerRun.objects.values_list(
        "pk", flat=True)[:1]]
    return urls


def test_no_page_shows_english_to_any_role(client, demo):
    # Data shown as it is: usernames, and the codes of identity categories and special diseases in code columns.
    usernames = set(User.objects.values_list("username", flat=True))
    usernames |= set(IdentityCategory.objects.values_list("code", flat=True))
    usernames |= set(SpecialDisease.objects.values_list("code", flat=True))
    problems: dict[str, set[str]] = {}
    for user in User.objects.filter(is_active=True).exclude(username="admin").order_by("username"):
        client.force_login(user)
        for url in [*_custom_pages(), *_admin_pages(user)]:
            response = client.get(url)
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            words = english_words(response.content.decode(), usernames)
            if words:
                problems.setdefault(url, set()).update(words)
    assert not problems, "\n".join(f"{url}: {' '.join(sorted(words))}" for url, words in sorted(problems.items()))


def test_the_lockout_page_is_chinese(client, settings, clerk_a):
    require(MO.exists(), "the compiled Chinese catalogue is missing")
    settings.LANGUAGE_CODE = "zh-hans"
    settings.AXES_FAILURE_LIMIT = 2
    with translation.override("zh-hans"):
        for _attempt in range(3):
            response = client.post("/admin/login/?next=/admin/", {"username": clerk_a.username, "password": "wrong"},
                                   REMOTE_ADDR="10.1.2.3")
    html = response.content.decode()
    assert response.status_code == 429 and 'id="lockout"' in html
    assert english_words(html, {clerk_a.username}) == []
