"""Credential checks for inbound requests. Every comparison is constant time."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr


def bearer_matches(header: str | None, token: SecretStr | None, *, scheme: str = "Bearer") -> bool:
    if token is None or not header:
        return False
    given_scheme, _, value = header.strip().partition(" ")
    if given_scheme.lower() != scheme.lower():
        return False
    return hmac.compare_digest(value.strip().encode(), token.get_secret_value().encode())


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(
    header: str | None, secret: SecretStr | None, body: bytes, *, prefix: str = "sha256="
) -> bool:
    """``header`` is ``sha256=<hex HMAC-SHA256(secret, body)>`` (or bare hex when prefix="")."""
    if secret is None or not header:
        return False
    value = header.strip()
    if prefix:
        if not value.lower().startswith(prefix):
            return False
        value = value[len(prefix) :]
    expected = hmac_sha256_hex(secret.get_secret_value(), body)
    return hmac.compare_digest(value.lower().encode(), expected.encode())
