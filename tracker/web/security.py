"""What every response and request goes through: headers, cookies, proxies and refused input.

- A Content-Security-Policy that runs only the app's own files and the inline scripts and styles
  it marks with this response's nonce; no page may be framed by another site.
- Cookies marked Secure when configured (TRACKER_SECURE_COOKIES) or when the request came over
  HTTPS; the client's address and scheme taken from a proxy only when TRACKER_PROXY_HOPS says so.
- Ids beyond the database's integer range do not match a route (404), and a NUL character in a
  form field, query parameter or JSON body is refused (400): the databases cannot store it.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from tracker.accounts import MAX_ID
from tracker.web.errors import render_error


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, marked Secure on every request that came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or request.is_secure


class IdConverter(IntegerConverter):
    """`<int:...>` up to the database's integer range: a larger number is no page (404)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter
    app.session_interface = SessionCookies()
    if app.config["PROXY_HOPS"]:
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    app.before_request(refuse_unstorable)
    app.after_request(secure_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.filters["nonced"] = nonced


def csp_nonce() -> str:
    """This response's nonce for inline <script> and <style> elements."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


_INLINE_TAG = re.compile(r"<(script|style)>")


def nonced(markup: str) -> Markup:
    """Markup made by a library (folium) with its bare inline <script>/<style> tags nonced."""
    return Markup(_INLINE_TAG.sub(lambda m: f'<{m[1]} nonce="{csp_nonce()}">', str(markup)))  # noqa: S704


def allow_framing_by_this_site() -> None:
    """For a page meant for a frame on the site's own pages (the map on an individual's page)."""
    g.frame_ancestors = "'self'"


def content_security_policy() -> str:
    nonce = csp_nonce()
    images = ["'self'", "data:", *_tile_sources(current_app.config.get("TILE_URL", ""))]
    ancestors = g.get("frame_ancestors", "'none'")
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            f"img-src {' '.join(images)}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def _tile_sources(template: str) -> list[str]:
    """The origin the map's tiles come from, as a CSP source ({s} subdomains as a wildcard)."""
    if not template:
        return []
    parts = urlsplit(template.replace("{s}", "*"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return []
    return [f"{parts.scheme}://{parts.netloc}"]


def secure_headers(response):
    response.headers.setdefault("Content-Security-Policy", content_security_policy())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    framing = "SAMEORIGIN" if g.get("frame_ancestors") else "DENY"
    response.headers.setdefault("X-Frame-Options", framing)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.is_secure and not current_app.config["SECURE_COOKIES"]:
        _mark_cookies_secure(response)
    return response


def _mark_cookies_secure(response) -> None:
    """Served over HTTPS: no cookie set here (the remember cookie) may travel back over plain
    HTTP. The session cookie is written after this, by SessionCookies."""
    cookies = response.headers.getlist("Set-Cookie")
    if not cookies:
        return
    response.headers.remove("Set-Cookie")
    for cookie in cookies:
        secure = "; secure" in cookie.lower()
        response.headers.add("Set-Cookie", cookie if secure else f"{cookie}; Secure")


def refuse_unstorable():
    """400 for a NUL character anywhere in the query, the form fields or a JSON body, and for a
    JSON body that is not what a form sends (an object of text fields): every page's forms take
    JSON too (Flask-WTF), and a number or an object where text belongs would fail inside them."""
    values = list(_multidict_strings(request.args))
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json and request.blueprint not in TYPED_JSON_BLUEPRINTS:
            fields = request.get_json(silent=True)
            if not _form_like(fields):
                return render_error(400, "Send the form's fields as text.")
            values += list(_json_strings(fields))
        elif not request.is_json:
            values += list(_multidict_strings(request.form))
    if any("\x00" in value for value in values):
        return render_error(400, "A field held a NUL character (\\0), which cannot be stored.")
    return None


# Blueprints whose views read typed JSON themselves (an API): boxes take numbers
# ([x, y, width, height]) and check every value against fixed choices (tracker.detections.boxes).
TYPED_JSON_BLUEPRINTS: frozenset[str] = frozenset({"boxes"})


def _form_like(fields) -> bool:
    def text(value) -> bool:
        return isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )

    return isinstance(fields, dict) and all(text(value) for value in fields.values())


def _multidict_strings(multidict):
    for key, items in multidict.lists():
        yield key
        yield from items


def _json_strings(fields: dict):
    for key, value in fields.items():
        yield key
        yield from [value] if isinstance(value, str) else value
