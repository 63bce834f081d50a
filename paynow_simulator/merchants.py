"""The merchants the simulator knows: integration id and key, from configuration."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared import config


@dataclass(frozen=True)
class Merchant:
    integration_id: str
    integration_key: str


class MerchantConfigError(ValueError):
    pass


def canonical_key(key: str) -> str:
    """Paynow's integration keys are GUIDs, and it hashes with their lowercase form (the
    official SDKs lowercase the key too), so `3E9F...` and `3e9f...` are the same key."""
    try:
        return str(uuid.UUID(key.strip()))
    except ValueError:
        raise MerchantConfigError(f"integration key {key!r} is not a GUID") from None


def merchant(integration_id: str, key: str) -> Merchant:
    integration_id = integration_id.strip()
    if not integration_id:
        raise MerchantConfigError("an integration id is empty")
    return Merchant(integration_id, canonical_key(key))


def parse_merchants(text: str) -> dict[str, Merchant]:
    """`id:key,id:key` by integration id."""
    found = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        integration_id, colon, key = entry.partition(":")
        if not colon:
            raise MerchantConfigError(f"{entry!r} is not id:key")
        found[integration_id.strip()] = merchant(integration_id, key)
    return found


def configured_merchants() -> dict[str, Merchant]:
    """PAYNOW_SIMULATOR_MERCHANTS and, when set, the suite's own integration."""
    known = parse_merchants(config.PAYNOW_SIMULATOR_MERCHANTS.get())
    own_id, own_key = config.PAYNOW_INTEGRATION_ID.get(), config.PAYNOW_INTEGRATION_KEY.get()
    if own_id or own_key:
        known[own_id.strip()] = merchant(own_id, own_key)
    return known
