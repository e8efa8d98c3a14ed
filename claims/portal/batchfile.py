"""A hospital's batch file (申报文件): one row per claim to declare, read with precise row errors.

Columns (the header row names them; the order is free): 单据号 (claim number, required) and 申报金额 (declared
amount, optional — when given it must equal what the funds paid in the claim's current settlement, so a hospital's
own figures are checked against ours). An .xlsx workbook or CSV (UTF-8, UTF-8 with BOM, GB18030).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from enrollment.imports.cells import CellError, parse_money, text
from enrollment.imports.readers import UnreadableFile, open_table
from enrollment.scoping import scope_queryset

from ..models import BatchLine
from ..models.claims import ClaimSource, ClaimStatus
from .selectors import with_fund_paid

NUMBER_HEADER = gettext_lazy("claim number")
AMOUNT_HEADER = gettext_lazy("declared amount")
_HEADERS = {"单据号": "number", "claim number": "number", "申报金额": "amount", "declared amount": "amount"}
MAX_ROWS = 20_000
MAX_ERRORS = 200


@dataclass
class BatchFile:
    claim_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rows: int = 0


def _error(row: int, column: str, message: str) -> str:
    return _("Row %(row)d, column %(column)s: %(message)s") % {"row": row, "column": column, "message": message}


def read_batch_file(upload, *, user, period: tuple[dt.date, dt.date]) -> BatchFile:
    """The claims a batch file declares, or every problem with its row and column (then nothing is submitted)."""
    from ..models import Claim

    result = BatchFile()
    wanted: dict[str, tuple[int, object]] = {}  # claim number -> (row, amount cell)
    number_label, amount_label = str(NUMBER_HEADER), str(AMOUNT_HEADER)
    try:
        with open_table(upload) as table:
            columns = None
            for row_number, cells in table.rows:
                values = [text(cell) for cell in cells]
                if columns is None:
                    columns = {_HEADERS.get(value.strip().lower(), _HEADERS.get(value.strip())): index
                               for index, value in enumerate(values) if value}
                    columns.pop(None, None)
                    if "number" not in columns:
                        result.errors.append(_("Row %(row)d: the header row needs a column “%(column)s” (单据号).")
                                             % {"row": row_number, "column": number_label})
                        return result
                    continue
                if not any(values):
                    continue
                result.rows += 1
                if result.rows > MAX_ROWS:
                    result.errors.append(_("A batch file holds at most %(count)d claims.") % {"count": MAX_ROWS})
                    return result
                number = values[columns["number"]] if columns["number"] < len(values) else ""
                if any(ord(ch) < 32 for ch in number):
                    result.errors.append(_error(row_number, number_label, _("control characters are not allowed.")))
                    continue
                if not number:
                    result.errors.append(_error(row_number, number_label, _("the claim number is missing.")))
                    continue
                if number in wanted:
                    result.errors.append(_error(row_number, number_label, _(
                        "claim %(claim)s is already on row %(row)d.") % {"claim": number, "row": wanted[number][0]}))
                    continue
                amount_index = columns.get("amount")
                amount = cells[amount_index] if amount_index is not None and amount_index < len(cells) else None
                wanted[number] = (row_number, amount)
    except UnreadableFile as error:
        result.errors.append(error.message)
        return result
    if columns is None:
        result.errors.append(_("The file is empty."))
        return result

    own = {claim.number: claim for claim in with_fund_paid(
        scope_queryset(Claim.objects.filter(number__in=list(wanted)), user)
        .annotate(service_on=Coalesce("discharged_on", "admitted_on")))}
    declared = dict(BatchLine.objects.filter(claim__number__in=list(wanted)).values_list("claim__number",
                                                                                       "batch__number"))
    start, end = period
    for number, (row, amount_cell) in wanted.items():
        claim = own.get(number)
        if claim is None:
            # Another hospital's claim reads exactly like one that does not exist: no oracle.
            result.errors.append(_error(row, number_label, _("no claim %(claim)s of your hospital.") % {
                "claim": number}))
            continue
        problem = None
        if claim.source == ClaimSource.MANUAL:
            problem = _("claim %(claim)s is a manual reimbursement, paid to the applicant.")
        elif claim.status != ClaimStatus.SETTLED or claim.fund_paid is None:
            problem = _("claim %(claim)s is not settled.")
        elif number in declared:
            problem = _("claim %(claim)s is already declared in batch %(batch)s.")
        elif not (start <= claim.service_on <= end):
            problem = _("claim %(claim)s is dated %(date)s, outside the period.")
        if problem:
            result.errors.append(_error(row, number_label, problem % {
                "claim": number, "batch": declared.get(number, ""), "date": claim.service_on}))
            continue
        if amount_cell not in (None, ""):
            try:
                amount = parse_money(amount_cell)
            except CellError as error:
                result.errors.append(_error(row, amount_label, error.message))
                continue
            if amount != claim.fund_paid:
                result.errors.append(_error(row, amount_label, _(
                    "%(amount)s does not match what the funds paid for claim %(claim)s: %(paid)s.") % {
                    "amount": amount, "claim": number, "paid": claim.fund_paid}))
                continue
        result.claim_ids.append(claim.pk)
    if len(result.errors) > MAX_ERRORS:
        more = len(result.errors) - MAX_ERRORS
        result.errors = [*result.errors[:MAX_ERRORS], _("… and %(count)d more problems.") % {"count": more}]
    return result

