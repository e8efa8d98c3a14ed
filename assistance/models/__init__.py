from .applications import (
    Application,
    ApplicationEvent,
    ApplicationPause,
    AssistanceSupplement,
    DeclaredAsset,
    DeclaredIncome,
    OutsideCost,
)
from .policy import AssistancePolicy
from .special_aid import SpecialAidCase, SpecialAidEvent, SpecialAidFollowUp, SpecialAidMeeting

__all__ = [
    "Application",
    "ApplicationEvent",
    "ApplicationPause",
    "AssistancePolicy",
    "AssistanceSupplement",
    "DeclaredAsset",
    "DeclaredIncome",
    "OutsideCost",
    "SpecialAidCase",
    "SpecialAidEvent",
    "SpecialAidFollowUp",
    "SpecialAidMeeting",
]
