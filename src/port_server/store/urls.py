"""Store URLs without their secrets: what logs, messages and reports may show."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_PASSWORD_KV = r"(password\s*=\s*)('[^']*'|[^\s&]+)"


def redact_url(url: str) -> str:
    """The URL with its password (URL or ``password=`` form) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and parts.password:
        url = url.replace(f":{parts.password}@", ":***@", 1)
    return re.sub(_PASSWORD_KV, r"\1***", url)


def secrets_of(url: str) -> list[str]:
    """The password(s) a URL holds, as written and decoded, to mask wherever they appear."""
    found = []
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    found += [value.strip("'") for _, value in re.findall(_PASSWORD_KV, url)]
    return [s for s in found if s]
