from __future__ import annotations

from paynow_simulator import protocol

# Paynow's docs, "Validating a hash on an inbound message".
DOCS_KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"
DOCS_REPLY = (
    "status=Ok&browserurl=https%3a%2f%2fstaging.paynow.co.zw%2fPayment%2fConfirmPayment%2f9510"
    "&pollurl=https%3a%2f%2fstaging.paynow.co.zw%2fInterface%2fCheckPayment%2f%3fguid%3d"
    "c7ed41da-0159-46da-b428-69549f770413&paynowreference=9510"
)
DOCS_REPLY_HASH = (
    "750DD0B0DF374678707BB5AF915AF81C228B9058AD57BB7120569EC68BBB9C2E"
    "FC1B26C6375D2BC562AC909B3CD6B2AF1D42E1A5E479FFAC8F4FB3FDCE71DF4D"
)


def test_the_docs_reply_hashes_exactly_to_the_docs_hash() -> None:
    message = protocol.parse(DOCS_REPLY)
    assert protocol.signature(message, DOCS_KEY) == DOCS_REPLY_HASH
    assert protocol.is_signed_by(protocol.parse(f"{DOCS_REPLY}&hash={DOCS_REPLY_HASH}"), DOCS_KEY)


def test_the_docs_outbound_message_hashes_to_the_docs_hash() -> None:
    # "Generating Hash": values joined as they are, not url-encoded, then the key.
    message = [
        ("id", "1201"),
        ("reference", "TEST REF"),
        ("amount", "99.99"),
        ("additionalinfo", "A test ticket transaction"),
        ("returnurl", "http://www.google.com/search?q=returnurl"),
        ("resulturl", "http://www.google.com/search?q=resulturl"),
        ("status", "Message"),
    ]
    assert protocol.signature(message, DOCS_KEY) == (
        "2A033FC38798D913D42ECB786B9B19645ADEDBDE788862032F1BD82CF3B92DEF"
        "84F316385D5B40DBB35F1A4FD7D5BFE73835174136463CDD48C9366B0749C689"
    )


def test_messages_are_encoded_as_paynow_encodes_them() -> None:
    """Lowercase hex, "+" for a space, `*` and `-` as they are (.NET's UrlEncode)."""
    assert protocol.encode(protocol.parse(DOCS_REPLY)) == DOCS_REPLY
    assert protocol.encode([("instructions", "Dial *151*2*4#, then PIN")]) == (
        "instructions=Dial+*151*2*4%23%2c+then+PIN"
    )


def test_parse_and_encode_round_trip_keeping_order_and_blank_values() -> None:
    message = [
        ("reference", "INV 2026/000042 & more=yes"),
        ("paymentchannelreference", ""),
        ("status", "Awaiting Delivery"),
        ("amount", "1.00"),
        ("payer", "Tendai Moyo Ŵ €"),
        ("paymentfraudscore", ""),
    ]
    assert protocol.parse(protocol.encode(message)) == message
    signed = protocol.sign(message, DOCS_KEY)
    assert protocol.is_signed_by(protocol.parse(protocol.encode(signed)), DOCS_KEY)


def test_a_changed_value_another_order_a_missing_hash_or_another_key_does_not_verify() -> None:
    signed = protocol.sign([("reference", "A"), ("amount", "10.00"), ("blank", "")], DOCS_KEY)
    assert protocol.is_signed_by(signed, DOCS_KEY)
    assert not protocol.is_signed_by(signed, "8d3c2a41-0c55-4f1e-9a47-2f0e5b6c7d8e")
    changed = [("reference", "A"), ("amount", "10.01"), *signed[2:]]
    assert not protocol.is_signed_by(changed, DOCS_KEY)
    reordered = [signed[1], signed[0], *signed[2:]]
    assert not protocol.is_signed_by(reordered, DOCS_KEY)
    assert not protocol.is_signed_by(signed[:-1], DOCS_KEY)


def test_an_error_reply_carries_no_hash() -> None:
    assert protocol.encode(protocol.error_reply("Invalid Hash.")) == (
        "status=Error&error=Invalid+Hash."
    )


def test_every_message_has_paynows_field_order() -> None:
    def names(message: protocol.Message) -> list[str]:
        return [name for name, _ in message]

    assert names(protocol.web_reply("b", "p", "1")) == [
        "status",
        "browserurl",
        "pollurl",
        "paynowreference",
    ]
    assert names(protocol.express_reply("p", "1", [("instructions", "i")])) == [
        "status",
        "instructions",
        "paynowreference",
        "pollurl",
    ]
    assert names(protocol.status_message("r", "1", "1.00", "Paid", "p")) == [
        "reference",
        "paynowreference",
        "amount",
        "status",
        "pollurl",
    ]
