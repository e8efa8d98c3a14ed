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
    "Hospital",
    "HospitalBatch",
    "HospitalStaff",
    "PaymentLine",
    "ReimbursementCase",
    "Settlement",
    "SlaPause",
    "SpecialDisease",
]
