from __future__ import annotations

import pytest

from paynow_simulator.merchants import (
    Merchant,
    MerchantConfigError,
    configured_merchants,
    parse_merchants,
)

KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"
OTHER_KEY = "8d3c2a41-0c55-4f1e-9a47-2f0e5b6c7d8e"


def test_merchants_are_read_as_id_key_pairs_with_keys_in_paynows_lowercase_form() -> None:
    assert parse_merchants(f" 1201:{KEY.upper()} , 1202:{OTHER_KEY},") == {
        "1201": Merchant("1201", KEY),
        "1202": Merchant("1202", OTHER_KEY),
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [("1201", "is not id:key"), ("1201:secret", "is not a GUID"), (f":{KEY}", "id is empty")],
)
def test_a_wrong_merchant_entry_is_named(text: str, error: str) -> None:
    with pytest.raises(MerchantConfigError, match=error):
        parse_merchants(text)


def test_the_suites_own_integration_is_known_beside_the_listed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYNOW_SIMULATOR_MERCHANTS", f"1202:{OTHER_KEY}")
    monkeypatch.setenv("PAYNOW_INTEGRATION_ID", "1201")
    monkeypatch.setenv("PAYNOW_INTEGRATION_KEY", KEY)
    assert sorted(configured_merchants()) == ["1201", "1202"]
    monkeypatch.delenv("PAYNOW_INTEGRATION_ID")
    monkeypatch.delenv("PAYNOW_INTEGRATION_KEY")
    assert sorted(configured_merchants()) == ["1202"]
