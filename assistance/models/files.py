"""Attachments (scans of receipts, evidence, minutes): stored under MEDIA_ROOT with a size and a type limit."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator
from django.utils.translation import gettext_lazy as _

ALLOWED_EXTENSIONS = ["pdf", "jpg", "jpeg", "png"]


def max_attachment_bytes() -> int:
    return getattr(settings, "ASSISTANCE_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)


def validate_attachment_size(upload) -> None:
    limit = max_attachment_bytes()
    if upload.size > limit:
        raise ValidationError(
            _("The file is %(size)s bytes; at most %(limit)s bytes are allowed."),
            code="file_too_large", params={"size": upload.size, "limit": limit})


ATTACHMENT_VALIDATORS = [FileExtensionValidator(ALLOWED_EXTENSIONS), validate_attachment_size]
ATTACHMENT_PATH = "assistance/%Y/%m/"
