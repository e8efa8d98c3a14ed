"""Template filters for how figures read to staff: rates as percent (75 %, not 0.7500)."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


def as_percent(ratio) -> str:
    """A ratio as a percentage without trailing zeros: 0.7000 → "70 %", 0.755 → "75.5 %", None → ""."""
    if ratio is None or ratio == "":
        return ""
    try:
        value = Decimal(str(ratio)) * 100
    except InvalidOperation:
        return str(ratio)
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"


register.filter("percent", as_percent)
