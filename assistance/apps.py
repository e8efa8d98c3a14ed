from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistanceConfig(AppConfig):
    name = "assistance"
    verbose_name = _("Medical assistance")

    def ready(self):
        from .policyfile import register_assistance_section

        # Enrollment owns the policy-file format and its loader; assistance plugs its section in here because
        # enrollment may not import assistance.
        register_assistance_section()
