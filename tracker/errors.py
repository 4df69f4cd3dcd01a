"""Domain errors, named as the states a ranger or researcher sees."""

from __future__ import annotations


class InvalidInput(ValueError):
    """Input that was refused, with a message per field; nothing was written."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {msg}" for field, msg in errors.items()))


class SignInRefused(Exception):
    """Wrong email or password, or too many failures: says how long to wait, if at all."""

    def __init__(self, message: str, retry_after: int = 0):
        self.retry_after = retry_after
        super().__init__(message)
