from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class EnrollmentConfig(AppConfig):
    name = "enrollment"
    verbose_name = _("Enrollment ledger")

    def ready(self):
        from .roles import sync_roles

        # Roles are (re)synced after every migrate so a fresh database, the test database and an upgraded one
        # all get the same groups and permissions without a manual step.
        post_migrate.connect(sync_roles, dispatch_uid="enrollment.sync_roles")
