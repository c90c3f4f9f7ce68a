"""Keep secrets from clouds.yaml out of every output: records, JUnit, logs, the console.

The secrets are the values of the cloud's auth section whose keys say they are secret
(passwords, tokens, application-credential secrets, keys). Anything written or shown passes
through `Redactor.redact`, which replaces each secret (longest first, so a secret that
contains another is hidden whole) with a fixed mask.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
SECRET_KEY_WORDS = ("password", "secret", "token", "key", "passcode")
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words


def secrets_in(config: Mapping[str, Any]) -> set[str]:
    """Secret values anywhere in a clouds.yaml cloud entry (auth and nested sections)."""
    found: set[str] = set()
    for key, value in config.items():
        if isinstance(value, Mapping):
            found |= secrets_in(value)
        elif isinstance(value, str) and _is_secret(str(key), value):
            found.add(value)
    return found


def _is_secret(key: str, value: str) -> bool:
    return len(value) >= MIN_SECRET_LENGTH and any(w in key.lower() for w in SECRET_KEY_WORDS)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self.secrets)
