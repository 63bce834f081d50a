"""Secrets handed to people (session tokens, API keys, emailed links) and their hashes.

Only the SHA-256 of a secret is stored: the secrets are 256-bit random, so a fast hash is
enough and lets a presented secret be found by its hash in one indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a cookie session: derived from the session token, so nothing more
    is stored and only someone holding the session can know it."""
    return hmac.new(session_token.encode(), b"cvt-csrf", hashlib.sha256).hexdigest()
