"""Hospital claim files (医院费用单据导入): claims a hospital sends as .xlsx or CSV (UTF-8, BOM, GB18030).

The same rules as the roster imports, on the same engine (`enrollment.imports`): its readers, header binding,
row checks and error list, a set-based `resolve` against the database, all or nothing, one bulk write with
history. The engine keeps its kinds in a closed table (enrollment may not import claims), so claims run it from
here: `import_claims` (the service), the admin page on the claim list (upload → dry run → confirm) and
``manage.py import_claims FILE --user U [--dry-run] [--settle]``.

One row is one claim, keyed by 单据号; a number already registered is an error, never an update — a bill is
changed by a correction (更正) of its settlement, not by sending it again.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import date

from django import forms
from django.contrib import messages
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from enrollment.imports.base import (
    CREATE,
    LOOKUP_CHUNK,
    Context,
    Importer,
    Progress,
    Row,
    Writer,
    chunked,
    fetch_people,
    not_found_message,
)
from enrollment.imports.cells import parse_choice, parse_date, parse_money
from enrollment.imports.columns import ID_NUMBER, Choices, Column, choices_of
from enrollment.imports.errors import ErrorLog
from enrollment.imports.readers import UnreadableFile, open_table
from enrollment.imports.service import ImportResult, _change_reason, _check_rows, _result

from .models import Claim, Hospital
from .models.choices import Referral, VisitType
from .models.claims import ClaimSource, ClaimStatus

__all__ = ["CLAIM_COLUMNS", "ClaimImport", "ClaimsImporter", "import_admin_view", "import_claims", "may_import_claims"]

KIND = "claims"
PERMISSION = "claims.add_claim"

# The exchange format agreed with the hospitals: headers and spellings are data, not translatable UI text.
CLAIM_COLUMNS = (
    Column("number", "单据号", required=True, aliases=("单据编号", "费用单据号", "结算单据号")),
    ID_NUMBER,
    Column("hospital_code", "医院编码", required=True, aliases=("医疗机构编码", "定点医疗机构编码", "机构编码")),
    Column("visit_type", "就诊类型", required=True, aliases=("就医类型",)),
    Column("admitted_on", "入院日期", required=True, aliases=("就诊日期", "入院(就诊)日期")),
    Column("discharged_on", "出院日期"),
    Column("diagnosis_code", "诊断编码", aliases=("疾病编码", "ICD-10编码", "ICD10编码")),
    Column("diagnosis_name", "诊断名称", aliases=("疾病名称",)),
    Column("special_disease", "大病专项", aliases=("大病专项救治",)),
    Column("referral", "转诊", aliases=("转诊情况", "转诊状态")),
    Column("total_cost", "总费用", required=True, aliases=("医疗总费用", "费用总额")),
    Column("policy_scope_cost", "政策范围内费用", required=True, aliases=("政策范围内金额",)),
)
VISIT_TYPE_SPELLINGS = {
    VisitType.INPATIENT: ("住院",),
    VisitType.OUTPATIENT: ("普通门诊", "门诊"),
    VisitType.CHRONIC: ("门诊慢特病", "慢特病", "门诊慢性病", "门诊特殊病"),
}
REFERRAL_SPELLINGS = {
    Referral.REFERRED: ("已转诊",),
    Referral.NOT_REQUIRED: ("无需转诊", "不需转诊"),
    Referral.MISSING: ("未转诊", "应转未转"),
}
VISIT_TYPES = choices_of(VisitType, VISIT_TYPE_SPELLINGS)
REFERRALS = choices_of(Referral, REFERRAL_SPELLINGS)
YES_NO = Choices(lookup={"是": "是", "否": "否", "y": "是", "yes": "是", "n": "否", "no": "否", "1": "是", "0": "否"},
                 shown=("是", "否"))


@dataclass(slots=True)
class ClaimDraft:
    row: int
    number: str
    id_number: str
    hospital_code: str
    values: dict
    person_pk: int | None = None
    region_id: int | None = None
    hospital_pk: int | None = None
    pk: int | None = None


class ClaimsImporter(Importer):
    kind = KIND
    columns = CLAIM_COLUMNS
    models = (Claim,)

    def __init__(self, ctx: Context, *, today: date | None = None):
        super().__init__(ctx)
        self.today = today or timezone.localdate()
        self.drafts: list[ClaimDraft] = []
        self.first_row: dict[str, int] = {}

    def check_row(self, row: Row) -> None:
        number = row.text("number", Claim._meta.get_field("number").max_length, required=True)
        parsed = row.id_number()
        hospital_code = row.text("hospital_code", Hospital._meta.get_field("code").max_length, required=True)
        visit_type = row.read("visit_type", lambda v: parse_choice(v, VISIT_TYPES), required=True)
        admitted_on = row.read("admitted_on", parse_date, required=True)
        discharged_on = row.read("discharged_on", parse_date)
        values = {
            "visit_type": visit_type,
            "admitted_on": admitted_on,
            "discharged_on": discharged_on,
            "diagnosis_code": row.text("diagnosis_code", Claim._meta.get_field("diagnosis_code").max_length),
            "diagnosis_name": row.text("diagnosis_name", Claim._meta.get_field("diagnosis_name").max_length),
            "is_special_disease": row.read("special_disease", lambda v: parse_choice(v, YES_NO)) == "是",
            "referral": row.choice("referral", REFERRALS) or Referral.NOT_REQUIRED,
            "total_cost": row.read("total_cost", parse_money, required=True),
            "policy_scope_cost": row.read("policy_scope_cost", parse_money, required=True),
        }
        self._check_dates(row, visit_type, admitted_on, discharged_on)
        total, scope = values["total_cost"], values["policy_scope_cost"]
        if total is not None and scope is not None and scope > total:
            row.error("policy_scope_cost", _("The policy-scope cost %(scope)s is more than the total cost %(total)s.")
                      % {"scope": scope, "total": total})
        if number:
            if number in self.first_row:
                row.error("number", _("Claim number %(number)s appears twice in this file (first in row %(row)d).")
                          % {"number": number, "row": self.first_row[number]})
            else:
                self.first_row[number] = row.number
        if row.ok and parsed is not None:
            self.drafts.append(ClaimDraft(row=row.number, number=number, id_number=parsed.number,
                                          hospital_code=hospital_code, values=values))

    def _check_dates(self, row: Row, visit_type, admitted_on, discharged_on) -> None:
        if admitted_on and admitted_on > self.today:
            row.error("admitted_on", _("%(date)s is in the future.") % {"date": admitted_on.isoformat()})
        if discharged_on and discharged_on > self.today:
            row.error("discharged_on", _("%(date)s is in the future.") % {"date": discharged_on.isoformat()})
        if admitted_on and discharged_on and discharged_on < admitted_on:
            row.error("discharged_on", _("The discharge date %(out)s is before the admission date %(in)s.")
                      % {"out": discharged_on.isoformat(), "in": admitted_on.isoformat()})
        if visit_type == VisitType.INPATIENT and discharged_on is None and not row.has("discharged_on"):
            # Inpatient rules are looked up on the discharge date (SPEC §1); without it the claim cannot settle.
            row.error("discharged_on", _("An inpatient claim needs its discharge date."))

    def resolve(self) -> None:
        ctx = self.ctx
        people = fetch_people({draft.id_number for draft in self.drafts})
        hospitals = _by_code(Hospital, {draft.hospital_code for draft in self.drafts})
        taken = _existing_numbers({draft.number for draft in self.drafts})
        accepted = []
        for draft in self.drafts:
            ok = True
            if draft.number in taken:
                self.reject(draft.row, "number", _("Claim number %(number)s is already registered.")
                            % {"number": draft.number})
                ok = False
            hospital_pk = hospitals.get(draft.hospital_code)
            if hospital_pk is None:
                self.reject(draft.row, "hospital_code", _("Unknown hospital code %(code)s.")
                            % {"code": draft.hospital_code})
                ok = False
            person = people.get(draft.id_number)
            # Another region's person gets the very words of an unknown number (no existence oracle).
            if person is None or not ctx.can_reach(ctx.regions_by_id[person[1]]):
                self.reject(draft.row, "id_number", not_found_message())
                ok = False
            if ok:
                draft.person_pk, draft.region_id = person
                draft.hospital_pk = hospital_pk
                accepted.append(draft)
                self.counts["claim"].add(CREATE)
        self.drafts = accepted

    def write(self, writer: Writer) -> None:
        user = self.ctx.user

        def build(draft: ClaimDraft) -> Claim:
            return Claim(number=draft.number, person_id=draft.person_pk, region_id=draft.region_id,
                         hospital_id=draft.hospital_pk, source=ClaimSource.IMPORT, status=ClaimStatus.REGISTERED,
                         created_by=user, **draft.values)

        writer.create(Claim, self.drafts, build)

    @property
    def created_ids(self) -> list[int]:
        return [draft.pk for draft in self.drafts if draft.pk is not None]


def _by_code(model, codes: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunked(sorted(codes), LOOKUP_CHUNK):
        found.update(model.objects.filter(code__in=chunk).values_list("code", "pk"))
    return found


def _existing_numbers(numbers: set[str]) -> set[str]:
    taken: set[str] = set()
    for chunk in chunked(sorted(numbers), LOOKUP_CHUNK):
        taken.update(Claim.objects.filter(number__in=chunk).values_list("number", flat=True))
    return taken


# --- The service --------------------------------------------------------------------------------------------------

@dataclass
class ClaimImport:
    """What an import did: the engine's result, and with `settle` how many claims were settled and which not."""

    result: ImportResult
    claim_ids: list[int] = field(default_factory=list)
    settled: int = 0
    settle_errors: list[str] = field(default_factory=list)


def may_import_claims(user) -> bool:
    return user.is_active and user.has_perm(PERMISSION)


def import_claims(*, source, user, file_name: str | None = None, dry_run: bool = False,
                  settle: bool = False) -> ClaimImport:
    """Check a hospital's claim file and, unless `dry_run` or any row has an error, register every claim in one
    transaction (history kept). With `settle`, each new claim is then settled (its own transaction each); a claim
    that cannot be settled stays registered and is reported.
    """
    if not may_import_claims(user):
        raise PermissionDenied(_("You may not import claims."))
    file_name = file_name or os.path.basename(str(getattr(source, "name", source)))
    errors = ErrorLog()
    importer = ClaimsImporter(Context(user, errors))
    total_rows = 0
    try:
        with open_table(source) as table:
            total_rows = _check_rows(importer, table.rows, errors, Progress())
    except UnreadableFile as exc:
        errors.add(None, "", exc.message)
    if importer.bound is not None and not importer.bound.missing:
        importer.resolve()
    result = _result(importer, file_name, dry_run, total_rows, errors)
    if dry_run or errors:
        return ClaimImport(result)
    writer = Writer(user=user, reason=_change_reason(file_name), when=timezone.now(), progress=Progress())
    try:
        with transaction.atomic():
            importer.write(writer)
    except IntegrityError:
        # Someone registered one of these claim numbers between the check and the write.
        errors.add(None, "", _("Claims in this file were registered by someone else during the import; nothing "
                               "was written. Import the file again."))
        return ClaimImport(_result(importer, file_name, dry_run, total_rows, errors))
    result.written = True
    outcome = ClaimImport(result, claim_ids=importer.created_ids)
    if settle:
        _settle_all(outcome, user)
    return outcome


def _settle_all(outcome: ClaimImport, user) -> None:
    from .services.settlement import settle_claim

    for claim in Claim.objects.filter(pk__in=outcome.claim_ids).order_by("pk"):
        try:
            settle_claim(claim=claim, by=user)
            outcome.settled += 1
        except ValidationError as error:
            outcome.settle_errors.append(f"{claim.number}: {' '.join(error.messages)}")
        except PermissionDenied as error:  # registered by someone who may import but not settle: say so once
            outcome.settle_errors.append(str(error))
            break


# --- Admin page: upload → dry run → confirm -----------------------------------------------------------------------

_TOKEN_SALT = "claims.imports.confirm"  # noqa: S105 - a signing namespace, not a secret
_TOKEN_MAX_AGE = 24 * 3600
_UPLOAD_DIR = "imports/claims"


class ClaimUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("An .xlsx workbook, or CSV text in UTF-8 or GB18030, with the Chinese column headers "
                               "listed below."))


class ClaimConfirmForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput)
    settle = forms.BooleanField(label=gettext_lazy("Settle the claims right after the import"), required=False)


def _store_upload(upload) -> str:
    """Keep a checked file until it is confirmed; the stored name is random, the user's name is not trusted."""
    extension = os.path.splitext(upload.name)[1].lower()[:8]
    name = f"{_UPLOAD_DIR}/{timezone.localdate():%Y/%m}/{secrets.token_hex(16)}{extension}"
    return default_storage.save(name, upload)


def import_admin_view(request, *, model_admin):
    """GET: the upload form. POST with a file: dry run and, when clean, a confirm button. POST with a token: the
    import of the file checked before (the signed token names the stored file and the user who checked it)."""
    if not may_import_claims(request.user):
        raise PermissionDenied
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.opts,
               "title": _("Import a hospital claim file"), "columns": CLAIM_COLUMNS}
    if request.method == "POST" and "token" in request.POST:
        return _confirm(request, model_admin, context)
    form = ClaimUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        outcome = import_claims(source=upload, user=request.user, file_name=upload.name, dry_run=True)
        context["outcome"] = outcome
        if outcome.result.ok:
            stored = _store_upload(upload)
            token = signing.dumps({"file": stored, "name": upload.name, "user": request.user.pk}, salt=_TOKEN_SALT)
            context["confirm_form"] = ClaimConfirmForm(initial={"token": token})
    context["form"] = form
    return TemplateResponse(request, "admin/claims/claim/import.html", context)


def _checked_file(request, form) -> dict | None:
    """The stored file a confirm token names, if the token is genuine, fresh and this user's."""
    if not form.is_valid():
        return None
    try:
        data = signing.loads(form.cleaned_data["token"], salt=_TOKEN_SALT, max_age=_TOKEN_MAX_AGE)
    except signing.BadSignature:  # also an expired token
        return None
    if data.get("user") != request.user.pk or not default_storage.exists(data["file"]):
        return None
    return data


def _confirm(request, model_admin, context):
    form = ClaimConfirmForm(request.POST)
    data = _checked_file(request, form)
    if data is None:
        context.update(form=ClaimUploadForm(), expired=True)
        return TemplateResponse(request, "admin/claims/claim/import.html", context)
    try:
        with default_storage.open(data["file"], "rb") as handle:
            outcome = import_claims(source=handle, user=request.user, file_name=data["name"],
                                    settle=form.cleaned_data["settle"])
    finally:
        default_storage.delete(data["file"])  # done, or refused: either way a new attempt starts from an upload
    if outcome.result.written:
        messages.success(request, _("%(count)d claims imported from %(file)s.")
                         % {"count": outcome.result.created, "file": data["name"]})
        if form.cleaned_data["settle"]:
            messages.info(request, _("%(count)d claims settled.") % {"count": outcome.settled})
        for error in outcome.settle_errors:
            messages.warning(request, error)
        return redirect(f"{_changelist(model_admin)}?source={ClaimSource.IMPORT}")
    context.update(form=ClaimUploadForm(), outcome=outcome)
    return TemplateResponse(request, "admin/claims/claim/import.html", context)


def _changelist(model_admin) -> str:
    return reverse(f"{model_admin.admin_site.name}:claims_claim_changelist")
