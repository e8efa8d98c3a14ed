"""Resident ID numbers (居民身份证号码, GB 11643).

python-stdnum does the arithmetic, but its `validate` also rejects numbers whose first six digits are not a
current place code; people keep the code of their *first* registration, often abolished since, so only the
length, the check digit (ISO 7064 MOD 11-2) and the birth date decide here.
"""

import re
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from stdnum.cn import ric
from stdnum.exceptions import InvalidComponent

_ID18 = re.compile(r"^\d{17}[\dX]$")
_ID15 = re.compile(r"^\d{15}$")
_PLAIN18 = re.compile(r"[0-9]{17}[0-9X]")


@dataclass(frozen=True)
class ParsedId:
    number: str
    birth_date: date
    sex: str  # "M" or "F": odd sequence digits are men
    converted_from: str = ""


def _birth_date(number18: str) -> date:
    try:
        born = ric.get_birth_date(number18)
    except (InvalidComponent, ValueError):
        raise ValidationError(_("The birth date in the ID number is not a real date."), code="id_birth_date")
    if born.year < 1880 or born > date.today():
        raise ValidationError(_("The birth date in the ID number is out of range."), code="id_birth_date")
    return born


def convert_15_to_18(number15: str) -> str:
    """First-generation numbers have a two-digit year and no check digit: insert "19" and compute one."""
    body = number15[:6] + "19" + number15[6:]
    return body + ric.calc_check_digit(body + "0")


def parse_id_number(raw: str) -> ParsedId:
    """Validate and normalise an ID number; raise ValidationError with a message a clerk can act on."""
    number = str(raw or "").strip().upper()
    if not _PLAIN18.fullmatch(number):  # the usual 18 ASCII characters need no cleaning (stdnum's is per character)
        number = ric.compact(number)
    converted_from = ""
    if _ID15.match(number):
        converted_from = number
        number = convert_15_to_18(number)
    elif len(number) not in (15, 18):
        raise ValidationError(
            _("An ID number has 18 characters (or 15 digits for an old card); this one has %(n)d.")
            % {"n": len(number)},
            code="id_length")
    elif not _ID18.match(number):
        raise ValidationError(
            _("An ID number is 17 digits followed by a digit or X."), code="id_format")
    born = _birth_date(number)
    expected = ric.calc_check_digit(number)
    if number[-1] != expected:
        raise ValidationError(
            _("The check digit of the ID number is wrong (expected %(expected)s).") % {"expected": expected},
            code="id_check_digit")
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return ParsedId(number=number, birth_date=born, sex=sex, converted_from=converted_from)


def mask_id_number(number: str) -> str:
    """Keep the first four and last four characters: 5001**********123X."""
    if not number or len(number) <= 8:
        return number or ""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_bank_account(number: str) -> str:
    """Like an ID number: the first and last four characters; a short account keeps only its last two."""
    if not number:
        return ""
    if len(number) <= 8:
        return "*" * (len(number) - 2) + number[-2:] if len(number) > 2 else "*" * len(number)
    return mask_id_number(number)


def shown_birth_date(birth: date | None, *, full: bool) -> str:
    """The birth date for a user who sees ID numbers in full, the year only for everybody else: with the region
    (the number's first six digits) and the unmasked last four, a whole birth date would rebuild the number."""
    if birth is None:
        return ""
    return birth.isoformat() if full else f"{birth.year}"


# Runs of digits as long as an ID number or a bank account (12 or more, an ID's final X included).
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{11,}[\dXx](?![0-9A-Za-z])")


def mask_numbers_in_text(text: str) -> str:
    """Mask every ID-number- or account-like run of digits in a free text (an error message quoting a cell)."""
    return _LONG_NUMBER.sub(lambda match: mask_id_number(match.group()), text)


def make_id_number(place_code: str, birth: date, sequence: int) -> str:
    """Build a valid 18-digit number (demo data and tests); `sequence` 0–999, odd for men."""
    body = f"{place_code}{birth:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")
