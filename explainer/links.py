"""Which link targets the narrative may use: http, https, mailto and relative links, nothing else."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

ALLOWED_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
# Browsers drop ASCII whitespace and control characters inside a scheme ("java\tscript:").
_STRIPPED = re.compile(r"[\x00-\x20\x7f-\x9f]")


def link_problem(url: str) -> str | None:
    """Why a link target is refused, or None when it is allowed."""
    decoded = url
    # Undo every layer of entity and percent encoding an attacker might stack, then look.
    for _ in range(5):
        previous = decoded
        decoded = unquote(html.unescape(decoded))
        if decoded == previous:
            break
    normal = _STRIPPED.sub("", decoded).replace("\\", "/").lower()
    if normal.startswith("//"):
        return f"protocol-relative link '{url}' is not allowed; write https://"
    m = _SCHEME.match(normal)
    if m and m.group(1) not in ALLOWED_SCHEMES:
        return f"link scheme '{m.group(1)}:' is not allowed (only http, https, mailto and relative links)"
    return None
