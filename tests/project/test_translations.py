"""The Chinese translation is complete and its compiled catalogue is the one committed.

makemessages runs on a copy of the tree, so the test never rewrites the committed files; a msgid missing from
the committed catalogue, an empty or fuzzy translation, or a stale .mo fails the test.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
SOURCE_DIRS = ["config", "enrollment", "claims", "assistance", "monitoring", "templates"]

pytestmark = pytest.mark.slow


def _entries(po_text: str) -> dict[str, tuple[str, bool]]:
    """msgid → (msgstr, fuzzy); plural forms are keyed by msgid and must have every msgstr[n] filled."""
    entries = {}
    for block in po_text.split("\n\n"):
        fuzzy = "#, fuzzy" in block or re.search(r"^#,.*\bfuzzy\b", block, re.M) is not None
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        text = "\n".join(lines)
        msgid = _field(text, "msgid")
        if msgid is None or msgid == "":
            continue
        context = _field(text, "msgctxt")
        key = f"{context}\x04{msgid}" if context else msgid
        if "msgid_plural" in text:
            strs = re.findall(r'^msgstr\[\d+\] ((?:".*"\n?)+)', text + "\n", re.M)
            value = "" if not strs or any(_join(s) == "" for s in strs) else _join(strs[0])
        else:
            value = _field(text, "msgstr") or ""
        entries[key] = (value, fuzzy)
    return entries


def _join(quoted: str) -> str:
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', quoted))


def _field(text: str, name: str):
    match = re.search(rf'^{name} ((?:".*"\n?)+)', text + "\n", re.M)
    return _join(match.group(1)) if match else None


def test_every_message_is_translated_to_chinese():
    assert PO.exists(), "locale/zh_Hans/LC_MESSAGES/django.po is missing"
    entries = _entries(PO.read_text(encoding="utf-8"))
    untranslated = [msgid for msgid, (msgstr, fuzzy) in entries.items() if not msgstr or fuzzy]
    assert not untranslated, f"{len(untranslated)} untranslated or fuzzy messages, e.g. {untranslated[:10]}"


def test_catalogue_lists_every_message_in_the_code(tmp_path):
    require(shutil.which("xgettext") is not None, "gettext (xgettext) is not installed")
    for name in [*SOURCE_DIRS, "manage.py"]:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
        else:
            shutil.copy(src, tmp_path / name)
    (tmp_path / "locale").mkdir()
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-location", "--no-obsolete",
         "--ignore", ".venv/*"],
        cwd=tmp_path, check=True, capture_output=True, env={"DEBUG": "1", "PATH": "/usr/bin:/bin",
                                                            "PYTHONPATH": str(tmp_path)},
    )
    fresh = _entries((tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8"))
    committed = _entries(PO.read_text(encoding="utf-8"))
    missing = sorted(set(fresh) - set(committed))
    assert not missing, f"{len(missing)} messages are not in the catalogue (run `make messages`), e.g. {missing[:10]}"


def test_compiled_catalogue_is_up_to_date(tmp_path):
    require(shutil.which("msgfmt") is not None, "gettext (msgfmt) is not installed")
    out = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(out), str(PO)], check=True)
    assert MO.exists(), "the compiled catalogue django.mo is not committed"
    assert out.read_bytes() == MO.read_bytes(), "django.mo is stale: run `make messages` and commit it"
