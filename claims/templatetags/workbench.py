"""{% workbench_rows as rows %}: the logged-in user's workbench (工作台) for the admin home page."""

from django import template
from django.utils import timezone

from claims.workbench import workbench

register = template.Library()


@register.simple_tag(takes_context=True)
def workbench_rows(context):
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []
    return workbench(request.user, today=timezone.localdate())
