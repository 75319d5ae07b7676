"""Passwords, random tokens and encryption of secrets at rest."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

from backend_services.core.settings import get_settings

_hasher = PasswordHasher()
# Verified against when the account does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-" + secrets.token_hex(8))

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    """Argon2 is deliberately slow: keep it off the event loop that serves everyone else."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


def new_token() -> str:
    """128 bits from the OS CSPRNG, URL-safe."""
    return secrets.token_urlsafe(16)


def token_hash(token: str) -> str:
    """Only hashes of session ids and mail tokens are stored: a DB leak opens no account."""
    return hashlib.sha256(token.encode()).hexdigest()


def _fernet() -> Fernet:
    key = get_settings().encryption_key
    if not key:
        raise RuntimeError("REPLYX_ENCRYPTION_KEY is not set")
    return Fernet(key.encode())


def encrypt_secret(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt_secret(cipher: str) -> str:
    try:
        return _fernet().decrypt(cipher.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("a stored secret cannot be decrypted with this encryption key") from exc


def secret_hint(plain: str) -> str:
    """What the UI may show of a secret once stored: its last four characters."""
    return "…" + plain[-4:] if len(plain) > 8 else "…"
