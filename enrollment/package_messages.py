"""Texts of installed packages that their own Chinese catalogues lack, marked here so that `makemessages` puts them
into ours, which Django reads before any package's.

makemessages reads only this project's files, never a package's, so a package's text can be translated by us only
through its msgid written out somewhere in the project: each string below is copied exactly from the package's
source (the versions in requirements.txt). Nothing calls these at run time. Texts a package does not mark for
translation at all are replaced where the admin uses them: axes' app and record names in enrollment/admin/logins.py,
Django's password-page warning in enrollment/admin/users.py. django-celery-beat's are in monitoring/beat_messages.py.
"""

from django.utils.translation import gettext_noop

# Django 5.2's admin templates, newer than its zh_Hans catalogue (admin/auth/user/add_form.html).
DJANGO_MESSAGES = (
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."),
)

# django-import-export 4: the export page (admin/import_export/export.html).
IMPORT_EXPORT_MESSAGES = (
    gettext_noop("Select all"),
)

# django-axes 8.3 ships no Chinese catalogue (axes/admin.py, axes/models.py).
AXES_MESSAGES = (
    gettext_noop("Locked Out"),
    gettext_noop("Form Data"),
    gettext_noop("Meta Data"),
    gettext_noop("Not set"),
    gettext_noop("User Agent"),
    gettext_noop("IP Address"),
    gettext_noop("HTTP Accept"),
    gettext_noop("Path"),
    gettext_noop("Attempt Time"),
    gettext_noop("Access lock out"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("Failed Logins"),
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("Access Attempt"),
    gettext_noop("Expires At"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("Logout Time"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
)
