from .batches import BatchLine, HospitalBatch
from .benefits import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    SpecialDisease,
)
from .calendar import CalendarDay, CalendarYear
from .claims import Claim
from .hospitals import Hospital, HospitalStaff
from .lookups import EligibilityLookup, LookupOutcome
from .reimbursement import CaseEvent, ReimbursementCase, SlaPause
from .settlement import PaymentLine, Settlement

__all__ = [
    "AssistanceBenefitRule",
    "BasicBenefitRule",
    "BatchLine",
    "BenefitPolicy",
    "CalendarDay",
    "CalendarYear",
    "CaseEvent",
    "CategoryTilt",
    "Claim",
    "CriticalSegment",
    "EligibilityLookup",
    "Hospital",
    "HospitalBatch",
    "HospitalStaff",
    "LookupOutcome",
    "PaymentLine",
    "ReimbursementCase",
    "Settlement",
    "SlaPause",
    "SpecialDisease",
]
