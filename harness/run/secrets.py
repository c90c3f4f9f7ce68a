"""Keep secrets out of every output: records, JUnit, logs, the console.

One rule says what a secret is, wherever one is looked for: a value whose key names a
secret (`is_secret_key`: passwords, tokens, application-credential secrets, keys), in a
clouds.yaml entry or in a host's ini file, and the password part of a URL
(`hide_url_credentials`: transport_url, database connections). Anything written or shown
passes through `Redactor.redact`, which replaces each known secret (longest first, so a
secret that contains another is hidden whole) with a fixed mask, in every form the harness
or a cloud may have written it in: raw, JSON-escaped (ASCII or not), XML/HTML-escaped,
URL-encoded and as Python's repr shows it; a cloud that echoes a password with a quote or
an accent in an error body does so escaped.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

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


def encodings(secret: str) -> set[str]:
    """The forms a secret takes in the text the harness reads and writes."""
    return {
        secret,
        json.dumps(secret)[1:-1],  # ASCII-escaped JSON, as json.dumps writes by default
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret, quote=True),  # XML and HTML: &quot; &#x27; &amp; &lt; &gt;
        html.escape(secret, quote=False),
        secret.replace('"', "&quot;").replace("'", "&apos;"),  # XML's own quote entities
        secret.encode("ascii", "xmlcharrefreplace").decode(),  # &#252; for non-ASCII
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        repr(secret)[1:-1],  # tracebacks show values by repr
        secret.encode("unicode_escape").decode(),
    }


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        forms = {
            f for secret in self.secrets for f in encodings(secret) if len(f) >= MIN_SECRET_LENGTH
        }
        self.forms = sorted(forms | set(self.secrets), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for form in self.forms:
            text = text.replace(form, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self.secrets)
