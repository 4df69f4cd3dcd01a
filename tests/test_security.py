"""What every response carries and every request is checked for: the Content-Security-Policy and
framing, Secure cookies, ids beyond the database's range and NUL characters (404/400, never 500)."""

from __future__ import annotations

import re

import pytest
from conftest import PASSWORD, csrf_token, row_counts

from tracker import create_app
from tracker.web.security import IdConverter, content_security_policy

HUGE = "9223372036854775808"  # one more than the largest 64-bit integer
PAGES = ["/", "/images/", "/stations/", "/deployments/", "/individuals/", "/map", "/users/"]


def policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


@pytest.mark.parametrize("path", PAGES)
def test_pages_run_only_their_own_scripts_and_styles(as_role, path):
    response = as_role("admin").get(path)
    assert response.status_code == 200
    csp = policy(response)
    nonce = re.fullmatch(r"'self' 'nonce-([\w-]+)'", csp["script-src"]).group(1)
    assert csp["style-src"] == f"'self' 'nonce-{nonce}'"
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    html = response.get_data(as_text=True)
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag or f'nonce="{nonce}"' in tag, tag
    assert not re.search(r"\sstyle=", html), "an inline style attribute is blocked by the policy"
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler is blocked by the policy"


def test_every_response_gets_a_new_nonce(client, backend):
    first, second = (policy(client.get("/login"))["script-src"] for _ in range(2))
    assert first != second


def test_the_map_for_a_frame_may_be_framed_by_this_site_only(as_role):
    response = as_role("researcher").get("/map?embed=1")
    assert policy(response)["frame-ancestors"] == "'self'"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_map_tiles_are_allowed_from_the_configured_tile_server_only(app):
    with app.test_request_context():
        app.config["TILE_URL"] = "https://{s}.tiles.park.example/{z}/{x}/{y}.png"
        assert "img-src 'self' data: https://*.tiles.park.example;" in content_security_policy()
        app.config["TILE_URL"] = ""
        assert "img-src 'self' data:;" in content_security_policy()


def _session_cookies(response) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith(("session", "rem"))]


def _sign_in_remembered(client, email: str, **kwargs):
    token = csrf_token(client, "/login")
    data = {"email": email, "password": PASSWORD, "remember": "y", "csrf_token": token}
    return client.post("/login", data=data, **kwargs)


def test_cookies_are_not_secure_over_plain_http_unless_configured(client, users):
    response = _sign_in_remembered(client, users["ranger"].email)
    cookies = _session_cookies(response)
    assert len(cookies) == 2
    assert not any("Secure" in c for c in cookies)
    assert all("HttpOnly" in c for c in cookies)


def test_cookies_are_secure_over_https(app, users):
    client, https = app.test_client(), {"base_url": "https://localhost"}
    html = client.get("/login", **https).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    data = {"email": users["ranger"].email, "password": PASSWORD, "remember": "y"}
    response = client.post(
        "/login",
        data=data | {"csrf_token": token},
        headers={"Referer": "https://localhost/login"},
        **https,
    )
    assert response.status_code == 302
    cookies = _session_cookies(response)
    assert len(cookies) == 2 and all(c.endswith("; Secure") or "; Secure;" in c for c in cookies)


@pytest.fixture
def secure_app(app_config):
    app = create_app(app_config | {"SECURE_COOKIES": True})
    yield app
    app.extensions["tracker.engine"].dispose()


def test_cookies_are_secure_when_configured(secure_app, users):
    response = _sign_in_remembered(secure_app.test_client(), users["ranger"].email)
    cookies = _session_cookies(response)
    assert len(cookies) == 2 and all("Secure" in c for c in cookies)


def test_secure_cookies_are_on_by_default_outside_the_development_server(monkeypatch, tmp_path):
    from tracker import config

    monkeypatch.delenv("TRACKER_SECURE_COOKIES", raising=False)
    assert config.finish(config.from_environment(tmp_path))["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("TRACKER_SECURE_COOKIES", "0")
    settings = config.finish(config.from_environment(tmp_path))
    assert settings["SESSION_COOKIE_SECURE"] is settings["REMEMBER_COOKIE_SECURE"] is False
    monkeypatch.setenv("TRACKER_SECURE_COOKIES", "yes")
    with pytest.raises(RuntimeError, match="TRACKER_SECURE_COOKIES must be 1"):
        config.from_environment(tmp_path)
    monkeypatch.setenv("TRACKER_PROXY_HOPS", "-1")
    monkeypatch.delenv("TRACKER_SECURE_COOKIES")
    with pytest.raises(RuntimeError, match="TRACKER_PROXY_HOPS must be 0 to 10"):
        config.from_environment(tmp_path)


def _int_routes(app):
    for rule in app.url_map.iter_rules():
        ints = [name for name, conv in rule._converters.items() if isinstance(conv, IdConverter)]
        if ints:
            yield rule, ints


def test_ids_beyond_the_database_range_are_not_found_on_every_route(app, as_role):
    admin = as_role("admin")
    token = csrf_token(admin, "/")
    routes = list(_int_routes(app))
    assert len(routes) >= 20
    for rule, ints in routes:
        path = rule.rule
        for name in ints:
            path = path.replace(f"<int:{name}>", HUGE)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = admin.open(path, method=method, data={"csrf_token": token})
            assert response.status_code == 404, (method, path, response.status_code)
    # The largest id the database holds is still looked up (and simply not there).
    assert admin.get("/images/2147483647").status_code == 404
    assert admin.get("/images/2147483648").status_code == 404


def test_a_nul_in_a_form_field_is_refused_and_nothing_is_written(app, as_role):
    admin, before = as_role("admin"), row_counts(app)
    token = csrf_token(admin, "/stations/new")
    data = {"code": "KP-\x0099", "name": "x", "latitude": "43.1", "longitude": "131.9"}
    response = admin.post("/stations/new", data=data | {"csrf_token": token})
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    assert row_counts(app) == before


def test_a_nul_in_the_sign_in_form_the_query_or_json_is_refused(client, as_role):
    token = csrf_token(client, "/login")
    data = {"email": "ranger@park.test\x00", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=data).status_code == 400
    researcher = as_role("researcher")
    assert researcher.get("/images/?station=KP%0001").status_code == 400
    assert researcher.get("/map?species=%00").status_code == 400
    token = csrf_token(researcher, "/")
    response = researcher.post(
        "/review/1/tag", json={"comments": "a\x00b"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 400


def test_ids_in_form_fields_beyond_the_range_are_refused(app, as_role):
    admin = as_role("admin")
    token = csrf_token(admin, "/species/")
    response = admin.post("/species/1/merge", data={"target": HUGE, "csrf_token": token})
    assert response.status_code == 302  # back to the list, with a message
    assert "Choose the species to merge into." in admin.get("/species/").get_data(as_text=True)


def test_a_json_body_must_be_what_a_form_sends(as_role):
    admin = as_role("admin")
    token = csrf_token(admin, "/stations/new")
    for body in ({"code": 12, "latitude": 43.1}, ["KP-01"], {"code": {"a": "b"}}):
        response = admin.post("/stations/new", json=body, headers={"X-CSRFToken": token})
        assert response.status_code == 400, body
        assert "Send the form&#39;s fields as text." in response.get_data(as_text=True)
