"""Template filters for how figures read to staff: rates as percent (75 %, not 0.7500)."""

from django import template

from ..percent import format_percent

register = template.Library()

# The filter and the admin's read-only ratio fields share one formatting (enrollment.percent).
as_percent = format_percent
register.filter("percent", format_percent)
