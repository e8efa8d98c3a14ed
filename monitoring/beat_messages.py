"""django-celery-beat's texts that its own zh_Hans catalogue leaves untranslated (empty or fuzzy in 2.9.0) or keeps
partly English ("all", an example's JSON keys), marked
here so that `makemessages` puts them into our catalogue, which Django reads before the package's own.

makemessages reads only this project's files, never a package's, so a package's text can be translated by us only
through its msgid written out somewhere in the project: each string below is copied exactly from the package's source
(django_celery_beat/admin.py and models.py). Nothing calls these at run time.
"""

from django.utils.translation import gettext_noop

BEAT_MESSAGES = (
    gettext_noop("Schedule"),
    gettext_noop("Arguments"),
    gettext_noop("Execution Options"),
    gettext_noop("Periodic Tasks Using This Schedule"),
    gettext_noop('Cron Minutes to Run. Use "*" for "all". (Example: "0,30")'),
    gettext_noop('Cron Hours to Run. Use "*" for "all". (Example: "8,20")'),
    gettext_noop('Cron Days Of The Month to Run. Use "*" for "all". (Example: "1,15")'),
    gettext_noop('JSON encoded keyword arguments (Example: {"argument": "value"})'),
    gettext_noop('Cron Months (1-12) Of The Year to Run. Use "*" for "all". (Example: "1,12")'),
    gettext_noop('Cron Days Of The Week to Run. Use "*" for "all", Sunday is 0 or 7, Monday is 1. '
                 '(Example: "0,5")'),
)
