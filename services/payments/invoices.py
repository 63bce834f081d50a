"""What payments asks billing, and what it makes of the answers. Domain code receives the
lookups as plain callables (service.py builds them on its RpcProxy), so it runs without
a broker in tests; every call is asked before a transaction opens, never while one holds
a connection (and row locks) waiting on another service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.payments.schemas import LinkInvoiceSchema, LinkLineItemSchema
from shared.rpc import call

# Below the gateway's RPC deadline (10 s), leaving room for Paynow after billing answered:
# a caller told 503 must not have a payment recorded afterwards by a worker still waiting.
BILLING_TIMEOUT_SECONDS = 5.0

# Invoice statuses a payment may be made against.
PAYABLE = frozenset({"ISSUED", "PARTIAL", "OVERDUE"})

InvoiceLookup = Callable[[str, str], dict[str, Any]]
"""Billing's `get_invoice(organization_id, invoice_id)` (InvoiceDetailSchema), or NotFound
naming what is unknown, as the caller (their context travels with the call)."""

LinkLookup = Callable[[str], dict[str, Any]]
"""Billing's `invoice_for_payment_link(token)`: {organization_id, billing_account_id,
state, invoice}, or NotFound naming `token`."""

AccountLookup = Callable[[str], dict[str, Any]]
"""Billing's `get_billing_account(organization_id)` (BillingAccountSchema)."""


def ask(method: Any, *args: Any) -> Any:
    """`method` is an RpcProxy method of billing."""
    return call(method, *args, timeout=BILLING_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class Payable:
    """An invoice a payment is started for, as billing described it."""

    organization_id: str
    billing_account_id: str
    invoice_id: str
    invoice_number: str | None
    amount_due: int
    payment_token: str | None  # where the payer comes back to (the pay page)

    @classmethod
    def from_invoice(
        cls,
        organization_id: str,
        billing_account_id: str,
        invoice: dict[str, Any],
        token: str | None,
    ) -> Payable:
        return cls(
            organization_id=organization_id,
            billing_account_id=billing_account_id,
            invoice_id=invoice["id"],
            invoice_number=invoice.get("invoice_number"),
            amount_due=invoice["amount_due"],
            payment_token=token,
        )


def link_invoice(invoice: dict[str, Any]) -> dict[str, Any]:
    """What a payment link shows of billing's invoice: LinkInvoiceSchema's fields only, so
    nothing billing adds later leaks to anonymous payers. Values pass as billing dumped
    them (moments already ISO-8601 text)."""
    shown = {name: invoice.get(name) for name in LinkInvoiceSchema().fields}
    item_fields = list(LinkLineItemSchema().fields)
    shown["line_items"] = [
        {name: item.get(name) for name in item_fields} for item in invoice.get("line_items", [])
    ]
    return shown
