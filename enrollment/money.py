"""Money helpers: every amount is a Decimal rounded half-up to the fen (分)."""

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def to_fen(value) -> Decimal:
    """Round half-up to the fen; accepts Decimal, int or str (never float, which cannot hold 0.01 exactly)."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def split_by_shares(amount: Decimal, shares: list[Decimal]) -> list[Decimal]:
    """Split `amount` into parts proportional to `shares`, in fen, that add up to `amount` exactly.

    Largest-remainder method: every part is first rounded down to the fen, then the fen left over go one
    each to the parts with the largest remainders (earlier parts win ties), so the split is deterministic.
    """
    amount = to_fen(amount)
    total_share = sum(shares, Decimal(0))
    if total_share <= 0:
        raise ValueError("shares must add up to more than zero")
    total_fen = int(amount * 100)
    exact = [Decimal(total_fen) * share / total_share for share in shares]
    floors = [int(x) for x in exact]  # amounts are non-negative, so int() floors
    left = total_fen - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [(Decimal(f) / 100).quantize(FEN) for f in floors]
