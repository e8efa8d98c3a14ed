"""The enrolment admin: every module registers its models on the default admin site when imported."""

from . import (  # noqa: F401
    access,
    exporting,
    identities,
    imports,
    ledger,
    ledger_runs,
    logins,
    people,
    policy,
    regions,
    site,
    users,
)
from .base import RegionScopedAdminMixin, RegionScopedInlineMixin  # noqa: F401
