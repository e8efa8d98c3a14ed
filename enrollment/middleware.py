"""Refuse query strings that carry control characters, with a message instead of a server error.

Form fields refuse them themselves (the validator installed in enrollment/apps.py); a query string (the admin's
search box, a list filter) reaches the database without a form, and a NUL there was a server error on
PostgreSQL. Upload file names need nothing: Django drops their non-printable characters.
"""

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from .controlchars import describe, find_control_character


def _first_offence(pairs) -> tuple[str, str] | None:
    for name, value in pairs:
        for text in (name, value):
            if isinstance(text, str) and (found := find_control_character(text)) is not None:
                return name, describe(found)
    return None


class RefuseControlCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offence = _first_offence((name, value) for name, values in request.GET.lists() for value in values)
        if offence is not None:
            name, message = offence
            if request.path.startswith("/api/"):  # the JSON endpoints answer in their own format
                return JsonResponse({"error": message, "field": _printable(name)}, status=400,
                                    json_dumps_params={"ensure_ascii": False})
            return HttpResponseBadRequest(format_html(
                "<!doctype html><html lang=\"zh-hans\"><meta charset=\"utf-8\"><title>{}</title><h1>{}</h1><p>{}</p>"
                "<p>{}</p></html>",
                _("Bad request"), _("Bad request"),
                _("The parameter “%(name)s” cannot be used.") % {"name": _printable(name)}, message))
        return self.get_response(request)


def _printable(text: str) -> str:
    return "".join(ch if find_control_character(ch) is None else "\N{REPLACEMENT CHARACTER}" for ch in text)
