from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _refuse_control_characters_in_text_fields():
    """Every text form field (admin forms, the project's own forms) refuses NUL and the other C0 controls with a
    field message; Django's own validator refuses only NUL, and says nothing about where it is.

    Run when the app configs load, not in ready(): the admin's autodiscovery (django.contrib.admin's ready(),
    earlier in INSTALLED_APPS) already builds the ModelForm classes and their fields.
    """
    from django import forms

    from .controlchars import ProhibitControlCharactersValidator

    if not any(isinstance(v, ProhibitControlCharactersValidator) for v in forms.CharField.default_validators):
        forms.CharField.default_validators = [*forms.CharField.default_validators,
                                              ProhibitControlCharactersValidator()]


_refuse_control_characters_in_text_fields()


class EnrollmentConfig(AppConfig):
    name = "enrollment"
    verbose_name = _("Enrollment ledger")

    def ready(self):
        from . import tasks  # noqa: F401 (registers the tasks that services start by name, enrollment.task_queue)
        from .imports.service import add_follow_up
        from .roles import sync_roles
        from .services.ledger_runs import follow_up_import

        # Roles are (re)synced after every migrate so a fresh database, the test database and an upgraded one
        # all get the same groups and permissions without a manual step.
        post_migrate.connect(sync_roles, dispatch_uid="enrollment.sync_roles")
        # The ledger follows the people and identities: a roster or identity import rebuilds the open plan years.
        add_follow_up(follow_up_import)

