"""Money is an `int` of US cents. Floats never touch it.

One rounding rule for the whole suite: half away from zero, to the cent, applied once at
the end of a computation (never to intermediate results).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CURRENCY = "USD"


def to_cents(amount: str | int | Decimal) -> int:
    """Parse a decimal amount ("12.30") into cents; more than two decimals is an error."""
    if isinstance(amount, bool | float):
        raise TypeError("amounts are never floats: pass a string, int or Decimal")
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {amount!r}") from exc
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"more than two decimals: {amount!r}")
    return int(cents)


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
