"""Turning one spreadsheet cell into a Python value, or a message the clerk can act on.

Cells arrive as text (CSV) or as typed values (xlsx: str, int, float, datetime, bool, None).
"""

import re
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.utils.translation import gettext as _

from ..money import to_fen
from .columns import Choices, normalise_label


class CellError(ValueError):
    """A cell that cannot be read; the message names what is wrong and how to write it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


_DATE_SEPARATED = re.compile(r"^(\d{4})([-/])(\d{1,2})\2(\d{1,2})$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YEAR = re.compile(r"^\d{4}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
BEIJING = ZoneInfo("Asia/Shanghai")
_FEN = Decimal("0.01")


def text(value) -> str:
    """Any cell as stripped text; whole-number xlsx cells lose the ".0" Excel gives them."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    return str(value).strip()


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def beijing_date(moment: datetime) -> date:
    """The calendar date in Beijing: a moment with a time zone (an ISO 8601 cell written by another system,
    often in UTC) is converted first; 2024-12-31T17:00Z is 1 January 2025 in Beijing. A naive moment is read
    as Beijing time already, which is what a clerk's spreadsheet holds."""
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        moment = moment.astimezone(BEIJING)
    return moment.date()


def parse_date(value) -> date:
    """YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD, an ISO 8601 date-time or an Excel date cell; anything else is refused,
    never guessed."""
    if isinstance(value, datetime):
        return beijing_date(value)
    if isinstance(value, date):
        return value
    raw = text(value)
    if _DATETIME.match(raw):
        try:
            return beijing_date(datetime.fromisoformat(raw.replace("Z", "+00:00")))
        except ValueError:
            raise CellError(_("“%(value)s” is not a real calendar date.") % {"value": raw})
    match = _DATE_SEPARATED.match(raw)
    parts = (match.group(1), match.group(3), match.group(4)) if match else None
    if parts is None:
        match = _DATE_COMPACT.match(raw)
        parts = match.groups() if match else None
    if parts is None:
        raise CellError(
            _("“%(value)s” is not a date; write it as YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD.") % {"value": raw})
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        raise CellError(_("“%(value)s” is not a real calendar date.") % {"value": raw})


def parse_money(value) -> Decimal:
    """A non-negative amount in yuan with at most two decimals (fen).

    More decimals are refused, not rounded: 12.345 is a typing or formula error, and rounding it would write an
    amount nobody entered.
    """
    if isinstance(value, bool):
        raise CellError(_("“%(value)s” is not an amount of money.") % {"value": value})
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, float):
        # repr() gives the shortest decimal that round-trips, i.e. what Excel showed the clerk.
        amount = Decimal(repr(value))
    else:
        raw = text(value).replace(",", "").replace("，", "").removeprefix("¥").removeprefix("￥")
        raw = raw.removesuffix("元")
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise CellError(_("“%(value)s” is not an amount of money.") % {"value": text(value)})
    if not amount.is_finite():
        raise CellError(_("“%(value)s” is not an amount of money.") % {"value": text(value)})
    if amount < 0:
        raise CellError(_("An amount cannot be negative."))
    if amount >= Decimal("1e12"):
        raise CellError(_("“%(value)s” is too large for an amount.") % {"value": text(value)})
    if amount != amount.quantize(_FEN, rounding=ROUND_DOWN):
        raise CellError(_("“%(value)s” has more than two decimals; amounts are in yuan to the fen (0.01).")
                        % {"value": text(value)})
    return to_fen(amount)


def parse_year(value) -> int:
    raw = text(value)
    if not _YEAR.match(raw) or not 1900 <= int(raw) <= 2100:
        raise CellError(_("“%(value)s” is not a year; write four digits, e.g. 2024.") % {"value": raw})
    return int(raw)


def parse_small_int(value, *, low: int, high: int) -> int:
    raw = text(value)
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise CellError(
            _("“%(value)s” is not a whole number from %(low)d to %(high)d.") % {"value": raw, "low": low, "high": high})
    return int(raw)


def parse_choice(value, choices: Choices) -> str:
    raw = text(value)
    found = choices.lookup.get(normalise_label(raw))
    if found is None:
        raise CellError(
            _("“%(value)s” is not one of: %(choices)s.") % {"value": raw, "choices": "、".join(choices.shown)})
    return found


def check_length(value: str, max_length: int) -> str:
    if len(value) > max_length:
        raise CellError(
            _("This is %(length)d characters long; at most %(max)d are allowed.")
            % {"length": len(value), "max": max_length})
    return value
