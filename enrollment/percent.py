"""Ratios have one unit for people: percent (``75`` is 75 %), in policy files and in the admin alike.

The database keeps the benefit ratios as fractions (0.75) because the settlement arithmetic wants them; the
conversion happens only at the edges (policy-file parsing, the admin's PercentField). A value between 0 and 1
is where the two units meet: ``0.75`` is 0.75 % in percent, but almost certainly meant as 75 %. No ratio of the
seeds' policies is below 1 %, so such a value is refused with both readings named, never guessed.
"""

from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

HUNDRED = Decimal(100)


def percent_problem(value: Decimal) -> str | None:
    """Why `value` (in percent) is not a plausible ratio, or None."""
    if value < 0 or value > HUNDRED:
        return _("a ratio is written in percent, from 0 to 100 (75 means 75 %%); %(value)s is outside that") % {
            "value": f"{value:f}"}
    if 0 < value < 1:
        return _("%(value)s would be read as %(value)s %%; if %(percent)s %% is meant, write %(percent)s (ratios are "
                 "written in percent)") % {"value": f"{value:f}", "percent": f"{(value * HUNDRED).normalize():f}"}
    return None


def format_percent(ratio) -> str:
    """A ratio as people read it, without trailing zeros: 0.7000 → "70 %", 0.755 → "75.5 %", None → ""."""
    if ratio is None or ratio == "":
        return ""
    try:
        value = Decimal(str(ratio)) * HUNDRED
    except InvalidOperation:
        return str(ratio)
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"


class PercentField(forms.DecimalField):
    """A ratio stored as a fraction, shown and typed in percent: 0.75 in the database is 75 on the form."""

    default_error_messages = {"ambiguous": gettext_lazy("Not a plausible ratio.")}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 7)
        kwargs.setdefault("decimal_places", 2)
        kwargs.pop("max_value", None)
        kwargs.pop("min_value", None)
        super().__init__(*args, **kwargs)
        self.help_text = self.help_text or _("In percent: 75 means 75 %.")

    def prepare_value(self, value):
        if isinstance(value, Decimal):
            return (value * HUNDRED).quantize(Decimal("0.01")).normalize()
        return value

    def clean(self, value):
        percent = super().clean(value)
        if percent is None:
            return None
        problem = percent_problem(percent)
        if problem:
            raise ValidationError(problem, code="ambiguous")
        return percent / HUNDRED

    def has_changed(self, initial, data):
        try:
            return super().has_changed(self.prepare_value(initial), data)
        except ValidationError:
            return True
