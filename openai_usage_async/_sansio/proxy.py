"""Which proxy a URL goes through, from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY``.

The official SDK honours these variables (httpx's ``trust_env``). aiohttp's own
``trust_env`` would too, but it also lets ``~/.netrc`` supply credentials, which clash
with our ``Authorization`` header; so the client reads the proxy variables itself and
passes the proxy explicitly. Lower-case names win over upper-case ones, as in ``urllib``
and curl; ``NO_PROXY`` is a comma-separated list of host names (each also matching its
subdomains; a leading dot is allowed), ``host:port`` entries, and ``*`` for every host.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

__all__ = ["proxy_for"]


def proxy_for(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy URL to reach ``url`` through, or None to connect directly."""
    settings: dict[str, str] = {}
    for name in sorted(environ, key=lambda n: n.islower()):  # lower-case last, so it wins
        key = name.lower()
        if key.endswith("_proxy") and environ[name]:
            settings[key.removesuffix("_proxy")] = environ[name]
    parts = urllib.parse.urlsplit(url)
    proxy = settings.get(parts.scheme) or settings.get("all")
    if proxy is None:
        return None
    if _bypassed(parts.hostname or "", parts.port, settings.get("no", "")):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    host = host.lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.lstrip(".").strip("[]")
        if host == name or host.endswith("." + name):
            return True
    return False
