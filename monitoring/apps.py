from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = _("Monitoring and early warning")

    def ready(self):
        # Enrollment owns the policy-file format; monitoring plugs its thresholds into it (nothing imports us).
        from .exchange import register_answer_import
        from .policyfile import register_monitoring_section

        register_monitoring_section()
        register_answer_import()
