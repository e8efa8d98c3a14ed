"""Titles of the admin site (医保帮扶经办系统); the msgid is in settings, its Chinese comes from the translation."""

from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

admin.site.site_header = settings.ADMIN_SITE_HEADER
admin.site.site_title = settings.ADMIN_SITE_HEADER
admin.site.index_title = _("Back office")
