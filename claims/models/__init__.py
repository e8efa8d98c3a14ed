from .batches import BatchLine, HospitalBatch
from .benefits import (
    AssistanceBenefitRule,
    BasicBenefitRule,
    BenefitPolicy,
    CategoryTilt,
    CriticalSegment,
    SpecialDisease,
)
from .calendar import CalendarDay, CalendarYear, DeadlineRecompute
from .claims import Claim
from .corrections import CorrectionKind, CorrectionState, SettlementCorrection
from .hospitals import Hospital, HospitalStaff
from .lookups import EligibilityLookup, LookupOutcome
from .reimbursement import CaseEvent, ReimbursementCase, SlaPause
from .settlement import FreezeReason, PaymentLine, Settlement

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
    "CorrectionKind",
    "CorrectionState",
    "CriticalSegment",
    "DeadlineRecompute",
    "EligibilityLookup",
    "FreezeReason",
    "Hospital",
    "HospitalBatch",
    "HospitalStaff",
    "LookupOutcome",
    "PaymentLine",
    "ReimbursementCase",
    "Settlement",
    "SettlementCorrection",
    "SlaPause",
    "SpecialDisease",
]
