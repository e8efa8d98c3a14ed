"""Shared data and helpers of the admin tests: one of everything in county A and in county B."""

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from import_export.forms import SelectableFieldsExportForm

from enrollment.models import Enrollment, Household, Identity, LedgerProblem, Person
from enrollment.models.ledger import ProblemKind
from tests.export_helpers import download_export
from tests.factories import make_household, make_identity, make_person

ADMIN = "/admin/enrollment"
FORMAT_INDEX = {"xlsx": "0", "csv": "1"}  # order of enrollment.exports.SAFE_EXPORT_FORMATS


@pytest.fixture(autouse=True)
def _admin_over_plain_http(settings):
    """The test client speaks plain HTTP to a DEBUG-off site: no HTTPS redirect, static files without a manifest
    (collectstatic is a deployment step), fast password hashing. Autouse wherever a test module imports it."""
    settings.SECURE_SSL_REDIRECT = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # users are made per test
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@dataclass
class Side:
    household: Household
    person: Person
    identity: Identity
    enrollment: Enrollment
    problem: LedgerProblem


def make_enrollment(person: Person, plan_year: int = 2024, **extra) -> Enrollment:
    defaults = {"contribution_due": Decimal("380.00"), "subsidy_amount": Decimal("0.00")}
    return Enrollment.objects.create(person=person, plan_year=plan_year, region=person.region, **{**defaults, **extra})


def make_side(region, name: str) -> Side:
    household = make_household(region, number=f"H-{region.code}")
    person = make_person(region, name=name, household=household)
    identity = make_identity(person, "dibao", date(2023, 1, 1), source_batch=f"batch-{region.code}")
    enrollment = make_enrollment(person)
    problem = LedgerProblem.objects.create(
        person=person, plan_year=2024, region=region, kind=ProblemKind.NOT_INSURED,
        description=f"problem of {name}", responsible_unit="民政")
    return Side(household, person, identity, enrollment, problem)


@pytest.fixture
def world(regions):
    return {"a": make_side(regions["a"], "甲县人"), "b": make_side(regions["b"], "乙县人")}


def export_post_data(resource_class, file_format: str) -> dict:
    data = {"format": FORMAT_INDEX[file_format], "resource": "0"}
    for field in resource_class().get_export_order():
        data[SelectableFieldsExportForm.create_boolean_field_name(resource_class, field)] = "on"
    return data


def export_rows(client, model_name: str, resource_class, file_format: str, query: str = "") -> list[list[str]]:
    """Export through the admin as a user would; returns the rows (header first) as text."""
    response = client.post(f"{ADMIN}/{model_name}/export/{query}", export_post_data(resource_class, file_format))
    content = download_export(client, response)
    if file_format == "csv":
        text = content.decode("utf-8-sig")
        return list(csv.reader(io.StringIO(text)))
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [["" if cell is None else str(cell) for cell in row] for row in book.active.iter_rows(values_only=True)]


def management_data(response) -> dict:
    """The inline formsets' management forms of a rendered add/change page, as POST data."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, field in formset.management_form.fields.items():
            value = formset.management_form.initial.get(name, field.initial)
            data[f"{formset.prefix}-{name}"] = "" if value is None else str(value)
    return data
