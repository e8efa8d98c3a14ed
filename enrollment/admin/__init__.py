"""The enrolment admin: every module registers its models on the default admin site when imported."""

from . import identities, imports, ledger, logins, people, policy, regions, site, users  # noqa: F401
from .base import RegionScopedAdminMixin, RegionScopedInlineMixin  # noqa: F401
