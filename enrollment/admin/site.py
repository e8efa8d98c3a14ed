"""Titles of the admin site (医保帮扶经办系统) and the admin's own words in Chinese.

The site title's msgid is in settings; its Chinese comes from the translation."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.templatetags import admin_list
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

admin.site.site_header = settings.ADMIN_SITE_HEADER
admin.site.site_title = settings.ADMIN_SITE_HEADER
admin.site.index_title = _("Back office")


def _boolean_icon_in_words(field_val):
    """Django's yes/no icons carry alt="True"/"False"/"None", untranslatable: the same icons with Chinese words."""
    from django.templatetags.static import static
    from django.utils.html import format_html

    icon = {True: "yes", False: "no", None: "unknown"}[field_val]
    icon_url = static(f"admin/img/icon-{icon}.svg")
    label = {True: _("Yes"), False: _("No"), None: _("Unknown")}[field_val]
    return format_html('<img src="{}" alt="{}">', icon_url, label)


# admin_list's callers (and django.contrib.admin.utils) look the function up at call time.
admin_list._boolean_icon = _boolean_icon_in_words

# Strings of Django's admin templates that its Chinese catalogue lacks (visually hidden table headers, read out
# by screen readers): kept here so `make messages` keeps them in ours, which takes precedence.
DJANGO_ADMIN_STRINGS = (gettext_noop("Model name"), gettext_noop("Add link"),
                        gettext_noop("Change or view list link"))
