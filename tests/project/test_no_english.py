"""No English left for a Chinese user: every admin changelist, add and change page, every other page of the URLconf
(the role table's VIEW_PERMISSIONS: queues, case and batch pages, the workbench, ledger, assistance and monitoring
pages), the hospital portal, the log-in pages and the admin's own scripts, rendered as each role on the demo county
(and as a superuser, for the operations pages no role reaches), hold no untranslated text.

Text is what a user reads: text nodes outside <script>/<style> (and <code>, which holds identifiers: an API's field
names), plus titles, placeholders and button labels.
A word of three or more ASCII letters is English unless it is data (a username, a code, a number with letters) or
in the allow-list of terms staff use as they are (CSV, ICD). What the admin's scripts write into a page (the two-box
selector's "Choose all 组") comes from the JavaScript catalogue, checked message by message.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import zoneinfo
from html.parser import HTMLParser
from pathlib import Path

import django.contrib.admin
import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import NoReverseMatch, get_resolver, reverse
from django.utils import translation

from claims.models import HospitalBatch, ReimbursementCase, SpecialDisease
from enrollment import roles
from enrollment.models import IdentityCategory, LedgerRun
from enrollment.scoping import scope_queryset
from tests.conftest import require
from tests.project.test_translations import MO

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Terms staff use untranslated, and the admin's own data-like tokens.
ALLOWED = {"csv", "xlsx", "icd", "yaml", "json", "gb18030", "utf", "bom", "xls", "excel", "url", "api", "ok",
           # Django's own Chinese for a multiple select: “按住 Control 键，或者 Mac 上的 Command 键……”
           "control", "command", "mac",
           # A date format as it is written ("YYYYMMDD"), and the message brokers a task queue names (superusers).
           "yyyymmdd", "redis", "rabbitmq",
           # File types as the upload limits name them.
           "pdf", "jpg", "png"}
# Time zones are identifiers, shown as they are in a crontab's time-zone list ("Asia/Shanghai").
TIME_ZONE_WORDS = {part for name in zoneinfo.available_timezones() for part in re.split(r"[/_\-+0-9]", name) if part}
# Pages whose owners have yet to translate these words (found by this test; each entry fails the test once the
# words are gone, so the list only shrinks). Empty: keep it so.
NOT_YET_TRANSLATED: dict[str, set[str]] = {}
WORD = re.compile(r"(?<![\w./@-])[A-Za-z]{3,}(?![\w./@-])")


SKIPPED = ("script", "style", "noscript", "template", "code")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED:
            self._skip += 1
        attrs = dict(attrs)
        for name in ("title", "placeholder", "alt", "aria-label"):
            if attrs.get(name):
                self.parts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in SKIPPED and self._skip:
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
    # Operations (the night's other schedule kinds, a task's arguments) are a superuser's; the demo has none.
    User.objects.create_superuser("ops_root", password="x")
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


# Pages not rendered here: scripts, JSON and files, log-outs, POST-only answers, and pages needing a signed token.
NOT_PAGES = {"admin:jsi18n", "admin:autocomplete", "admin:view_on_site", "admin:logout", "hospital:logout", "healthz",
             "api-eligibility", "enrollment:import-confirm", "enrollment:import-template"}


def _url_arguments(name: str) -> list[str]:
    resolver = get_resolver()
    namespace, _, plain = name.rpartition(":")
    if namespace:
        resolver = resolver.namespace_dict[namespace][1]
    possibilities = resolver.reverse_dict.getlist(plain)
    return list(possibilities[0][0][0][1]) if possibilities else []


def _named_pages(user) -> list[str]:
    """Every page of the role table, about up to three rows of its model in the user's reach (the review actions
    answer POSTs only: their forms are on the case pages)."""
    urls = []
    for name, (_need, label) in roles.VIEW_PERMISSIONS.items():
        params = _url_arguments(name)
        if name in NOT_PAGES or "action" in params:
            continue
        if not params:
            urls.append(reverse(name))
        elif label is not None and len(params) == 1:
            rows = apps.get_model(label).objects.order_by("pk")
            with contextlib.suppress(TypeError):  # a model without a region (accounts, logs) is not narrowed
                rows = scope_queryset(rows, user)
            rows = rows.values_list("pk", flat=True)
            urls += [reverse(name, kwargs={params[0]: pk}) for pk in rows[:3]]
    return urls


def test_no_page_shows_english_to_any_role(client, demo):
    # Data shown as it is: usernames, and the codes of identity categories and special diseases in code columns.
    usernames = set(User.objects.values_list("username", flat=True))
    usernames |= set(IdentityCategory.objects.values_list("code", flat=True))
    usernames |= set(SpecialDisease.objects.values_list("code", flat=True))
    usernames |= TIME_ZONE_WORDS
    # The login log stores "<unknown>" for a header the client did not send (the test client sends no User-Agent).
    usernames.add("unknown")
    problems: dict[str, set[str]] = {}
    seen = 0
    still_english = {pattern: set() for pattern in NOT_YET_TRANSLATED}
    for url in (reverse("admin:login"), reverse("hospital:login")):
        if words := english_words(client.get(url).content.decode(), set()):
            problems[url] = set(words)
    for user in User.objects.filter(is_active=True).order_by("username"):
        client.force_login(user)
        for url in dict.fromkeys([*_custom_pages(), *_named_pages(user), *_admin_pages(user)]):
            response = client.get(url)
            seen += response.status_code == 200
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            words = set(english_words(response.content.decode(), usernames))
            for pattern, known in NOT_YET_TRANSLATED.items():
                if re.fullmatch(pattern, url):
                    still_english[pattern] |= words & known
                    words -= known
            if words:
                problems.setdefault(f"{url} ({user.username})", set()).update(words)
    assert not problems, "\n".join(f"{url}: {' '.join(sorted(words))}" for url, words in sorted(problems.items()))
    translated = {pattern: sorted(known - still_english[pattern]) for pattern, known in NOT_YET_TRANSLATED.items()
                  if known - still_english[pattern]}
    assert not translated, f"translated now, drop them from NOT_YET_TRANSLATED: {translated}"
    assert seen > 900  # the walk rendered the demo's pages, not a wall of refusals


def _admin_script_messages() -> set[str]:
    """Every text the admin's own scripts translate with gettext('…')/ngettext('…', …) (vendored libraries aside)."""
    call = re.compile(r"""\bn?gettext\(\s*(['"])((?:\\.|(?!\1).)*)\1""")
    root = Path(django.contrib.admin.__file__).parent / "static" / "admin" / "js"
    return {match.group(2).replace("\\'", "'").replace('\\"', '"') for path in root.rglob("*.js")
            if "vendor" not in path.parts for match in call.finditer(path.read_text(encoding="utf-8"))}


def test_the_admins_scripts_speak_chinese(client, settings, clerk_a):
    # "Choose all 组" under a group selector: Django's own zh_Hans script catalogue lacks the texts of 5.x's
    # two-box selector; locale/zh_Hans/LC_MESSAGES/djangojs.po completes it.
    require(MO.exists(), "the compiled Chinese catalogue is missing")
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(clerk_a)
    with translation.override("zh-hans"):
        script = client.get(reverse("admin:jsi18n")).content.decode()
    catalog = json.loads(re.search(r"const newcatalog = (\{.*?\});\n", script, re.S).group(1))
    messages = _admin_script_messages()
    assert {"Choose all %s", "Remove selected %s", "Filter"} <= messages
    untranslated = sorted(m for m in messages if not catalog.get(m))
    assert not untranslated, f"the admin's scripts show these in English: {untranslated}"


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
