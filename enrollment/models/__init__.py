from .access import IdNumberAccess
from .exports import ExportJob
from .identities import Identity, IdentityCategory
from .imports import ImportJob
from .ledger import Enrollment, LedgerProblem
from .ledger_runs import LedgerRun
from .people import Household, Person
from .policy import CostShareRule, PolicyVersion, SubsidyRule
from .regions import Region, RegionMembership, RegionYear

__all__ = [
    "CostShareRule",
    "Enrollment",
    "ExportJob",
    "Household",
    "IdNumberAccess",
    "Identity",
    "IdentityCategory",
    "ImportJob",
    "LedgerProblem",
    "LedgerRun",
    "Person",
    "PolicyVersion",
    "Region",
    "RegionMembership",
    "RegionYear",
    "SubsidyRule",
]
