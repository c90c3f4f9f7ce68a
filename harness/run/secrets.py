"""Keep secrets out of every output: records, JUnit, logs, the console.

One rule says what a secret is, wherever one is looked for: a value whose key names a
secret (`is_secret_key`: passwords, tokens, application-credential secrets, keys), in a
clouds.yaml entry or in a host's ini file, and the password part of a URL
(`hide_url_credentials`: transport_url, database connections). Anything written or shown
passes through `Redactor.redact`, which replaces each known secret (longest first, so a
secret that contains another is hidden whole) with a fixed mask.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
SECRET_KEY_WORDS = (
    "password", "passwd", "passcode", "secret", "token", "private_key", "key",
)  # fmt: skip
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")


def is_secret_key(key: str) -> bool:
    """Whether a key (of clouds.yaml, of an ini file) names a secret."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_KEY_WORDS)


def hide_url_credentials(text: str) -> str:
    """Hide passwords in URLs (transport_url, connection strings) in anything shown."""
    return _URL_CREDENTIALS.sub(rf"\g<scheme>\g<user>:{MASK}@", text)


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
    return len(value) >= MIN_SECRET_LENGTH and is_secret_key(key)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self.secrets)
