"""The claims admin: every module registers its models (or, for benefits, inlines) when imported."""

from . import benefits, calendar, claims, corrections, hospitals, workflows  # noqa: F401
