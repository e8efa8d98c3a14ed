from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClaimsConfig(AppConfig):
    name = "claims"
    verbose_name = _("Claims and settlement")

    def ready(self):
        from django.db.models.signals import pre_delete

        from enrollment.scoping import register_hospital_resolver

        from .calendar import recompute_after_changes
        from .hospital_access import connect_access_invalidation, hospital_id_of
        from .models import PaymentLine
        from .policy_cache import connect_policy_cache_invalidation
        from .policyfile import register_benefits_section
        from .services.calendar import recompute_open_deadlines
        from .services.policy_copy import connect_policy_copy
        from .services.policy_lock import connect_policy_lock
        from .services.settlement import refuse_payment_line_delete

        # Enrollment owns the policy-file format, the loader and the edit hook; claims plugs into all three here
        # because enrollment may not import claims.
        connect_policy_lock()
        # A committed calendar change recomputes the open deadlines (the services import the calendar module).
        recompute_after_changes(recompute_open_deadlines)
        register_hospital_resolver(hospital_id_of)
        connect_access_invalidation()
        connect_policy_cache_invalidation()
        connect_policy_copy()
        register_benefits_section()
        pre_delete.connect(
            refuse_payment_line_delete, sender=PaymentLine, dispatch_uid="claims.payment_line_immutable")
