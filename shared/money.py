"""Money is an `int` of US cents. Floats never touch it.

One rounding rule for the whole suite: half away from zero, to the cent, applied once at
the end of a computation (never to intermediate results).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CURRENCY = "USD"


def format_cents(cents: int, currency: str = CURRENCY) -> str:
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{currency} {whole:,}.{frac:02d}"


def round_cents(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def prorate(cents: int, numerator: int, denominator: int) -> int:
    """`cents * numerator / denominator`, rounded by the suite's one rule."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    return round_cents(Decimal(cents) * numerator / denominator)
