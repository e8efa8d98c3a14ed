"""Control characters in text that came from outside (import cells, form fields, query strings, policy files).

PostgreSQL refuses a NUL byte in any text value, so one NUL in a CSV cell used to end in a server error; the
other C0 characters are stored but are invisible on screen and break exports and look-ups (a name with a
hidden \\x1f never matches its search). Tab and line breaks are ordinary text and stay allowed.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# C0 without tab (\x09), line feed (\x0a) and carriage return (\x0d, the first half of a Windows line break).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def find_control_character(value: str) -> tuple[int, str] | None:
    """(1-based position, character) of the first forbidden control character, or None."""
    match = CONTROL_CHARACTERS.search(value)
    if match is None:
        return None
    return match.start() + 1, match.group()


def describe(found: tuple[int, str]) -> str:
    position, char = found
    return _("This text contains the invisible control character U+%(code)04X at character %(position)d; "
             "remove it (it is often left by copying from another program).") % {"code": ord(char),
                                                                                  "position": position}


def check_text(value: str) -> None:
    """Raise ValidationError (code "control_character") naming the character and where it is."""
    found = find_control_character(value)
    if found is not None:
        raise ValidationError(describe(found), code="control_character")


@deconstructible
class ProhibitControlCharactersValidator:
    """Form fields: the message names the character and its position (Django's own only knows NUL)."""

    message = gettext_lazy("Control characters are not allowed.")
    code = "control_character"

    def __call__(self, value):
        if isinstance(value, str):
            check_text(value)

    def __eq__(self, other):
        return isinstance(other, ProhibitControlCharactersValidator)
