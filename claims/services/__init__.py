"""Services of the claims app: every write that carries a rule, one transaction each (see ARCHITECTURE.md)."""

from .batch_settlement import BatchSettlementResult, settle_claims
from .policy_lock import ensure_policy_unsettled, policy_has_settlements
from .settlement import SettlementPreview, correct_claim, preview_settlement, reverse_settlement, settle_claim

__all__ = [
    "BatchSettlementResult",
    "SettlementPreview",
    "correct_claim",
    "ensure_policy_unsettled",
    "policy_has_settlements",
    "preview_settlement",
    "reverse_settlement",
    "settle_claim",
    "settle_claims",
]
