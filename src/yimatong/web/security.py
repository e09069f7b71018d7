"""Security headers of every response (GB/T 22239-2019 8.1.4.4; OWASP Secure Headers).

Pages get a Content-Security-Policy without inline script: every script is a file under /static, data for
scripts travels in `<script type="application/json">` blocks (escaped by Jinja's `tojson`) or from an
endpoint, styles are files too (a value computed for one element is set through the CSSOM by the script, never
as a style attribute). Non-HTML answers (JSON, files) get `default-src 'none'`: a stored file opened in the
browser can run nothing. Every answer refuses framing and MIME sniffing."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import Message

# FastAPI's Swagger UI and ReDoc load their bundles from a CDN with an inline bootstrap script; they keep a
# looser policy of their own until the bundles are vendored.
DOCS_PATHS = ("/docs", "/redoc")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
            "worker-src blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
SCRIPT_TYPES = ("text/javascript", "application/javascript")


def page_csp(tile_url: str | None) -> str:
    img = "'self' data:" + (f" {tile_origin(tile_url)}" if tile_url else "")
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src {img}; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'")


def tile_origin(url: str) -> str:
    """The origin of a base-map URL template for img-src: `https://t{s}.tianditu.gov.cn/…` → a wildcard of
    the templated label (CSP allows `*` only as the leftmost label)."""
    scheme = urlsplit(url.replace("{s}", "a")).scheme or "https"
    host = url.split("://", 1)[-1].split("/", 1)[0]
    if "{" in host:
        host = "*." + host.split(".", 1)[1] if "." in host else "*"
    return f"{scheme}://{host}"


class Headers:
    """The headers added to one response start message."""

    def __init__(self, tile_url: str | None) -> None:
        self.page = page_csp(tile_url)

    def apply(self, message: Message, path: str, https: bool) -> None:
        headers = MutableHeaders(scope=message)
        ctype = headers.get("content-type", "")
        if "content-security-policy" not in headers:
            if ctype.startswith("text/html"):
                headers["Content-Security-Policy"] = DOCS_CSP if path.startswith(DOCS_PATHS) else self.page
            elif ctype.startswith(SCRIPT_TYPES):
                # a worker runs under the CSP of its own script's response (CSP 3, §4.2.5 "initialize a
                # global object's CSP list"): the map's tile worker must be allowed to fetch this origin
                headers["Content-Security-Policy"] = self.page
            else:
                headers["Content-Security-Policy"] = OTHER_CSP
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if ctype.startswith("text/html"):
            headers.setdefault("Cache-Control", "no-store")  # a shared PC's back button after logout shows nothing
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
