"""Services of the claims app: every write that carries a rule, one transaction each (see ARCHITECTURE.md)."""

from .policy_lock import ensure_policy_unsettled, policy_has_settlements
from .settlement import SettlementPreview, correct_claim, preview_settlement, reverse_settlement, settle_claim

__all__ = [
    "SettlementPreview",
    "correct_claim",
    "ensure_policy_unsettled",
    "policy_has_settlements",
    "preview_settlement",
    "reverse_settlement",
    "settle_claim",
]
