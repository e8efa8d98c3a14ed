"""docs/roles.md is generated from the role table and must be current."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from enrollment.management.commands import roles_doc


def test_committed_roles_doc_is_current():
    assert roles_doc.DOC_PATH.read_text(encoding="utf-8") == roles_doc.render(), (
        "docs/roles.md is out of date: run `python manage.py roles_doc` and commit it")


def test_check_fails_on_a_stale_file(tmp_path, monkeypatch):
    stale = tmp_path / "roles.md"
    stale.write_text("# old\n", encoding="utf-8")
    monkeypatch.setattr(roles_doc, "DOC_PATH", stale)
    with pytest.raises(CommandError, match="out of date"):
        call_command("roles_doc", "--check")
    call_command("roles_doc")
    call_command("roles_doc", "--check")
    assert stale.read_text(encoding="utf-8") == roles_doc.render()


def test_every_role_and_model_of_the_table_is_in_the_doc():
    from enrollment import roles

    text = roles_doc.render()
    for role, table in roles.ROLE_PERMISSIONS.items():
        assert f"| {role} |" in text
        for label in table:
            assert f"`{label}`" in text
    assert '"*"' not in text
