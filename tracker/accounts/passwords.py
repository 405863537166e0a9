"""Password hashing with argon2id; hashes are upgraded when the parameters change."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_babel import gettext as _

_hasher = PasswordHasher(type=Type.ID)
# Verified against when the email is unknown, so that both failures cost the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only here to spend the same time")

MIN_LENGTH = 12


def hash_password(password: str) -> str:
    """Hash a new password with the current argon2id parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password``; with no hash (unknown user) still spend the time of one check."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with parameters older than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """A sentence explaining why a new password is unacceptable, or None if it is fine."""
    if len(password) < MIN_LENGTH:
        return _("Use at least %(num)d characters.", num=MIN_LENGTH)
    if len(password) > 1024:
        return _("Use at most %(num)d characters.", num=1024)
    return None
