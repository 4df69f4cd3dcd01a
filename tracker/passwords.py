"""What a password must be: NIST SP 800-63B's rules, not composition rules.

Long enough, not absurdly long, not only spaces, not one of the most common passwords, and not the
account's own email. Any character may be used, spaces included; nothing is truncated.
"""

from __future__ import annotations

import functools
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 200
COMMON_LIST = Path(__file__).with_name("common_passwords.txt")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lower-cased (read once)."""
    lines = COMMON_LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def problem(password: str, email: str = "") -> str | None:
    """Why this password may not be used, or None when it may."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"Use {MIN_LENGTH} to {MAX_LENGTH} characters."
    if not password.strip():
        return "A password of only spaces is too easy to guess."
    if "\x00" in password:
        return "A password cannot contain a NUL character."
    folded = password.strip().lower()
    if folded in common_passwords():
        return "This is one of the most common passwords: choose another."
    if email and folded in {email.lower(), email.lower().split("@")[0]}:
        return "A password cannot be the account's email address."
    return None
