"""Personal API tokens: made on the command line or the account page, listed, revoked, audited."""

from __future__ import annotations

import hashlib
import re

from conftest import csrf_token, fetch
from sqlalchemy import select

from tracker.models import ApiToken, AuditLog


def _status(client, token: str) -> int:
    return client.get(
        "/uploads/nope/status", headers={"Authorization": f"Bearer {token}"}
    ).status_code


def test_tracker_user_token_prints_a_token_stored_only_hashed(app, runner, users, client):
    result = runner.invoke(args=["user", "token", "RANGER@park.test", "--name", "laptop"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    assert secret.startswith("trk_") and len(secret) > 40
    rows = fetch(app, select(ApiToken.name, ApiToken.token_hash))
    assert rows == [("laptop", hashlib.sha256(secret.encode()).hexdigest())]
    assert _status(client, secret) == 404  # signed in as the ranger: no such upload
    assert _status(client, secret + "x") == 401
    actions = [a for (a,) in fetch(app, select(AuditLog.action).order_by(AuditLog.id))]
    assert actions == ["token-create", "token-first-use"]


def test_tracker_user_token_for_an_unknown_account_is_refused(runner, users):
    result = runner.invoke(args=["user", "token", "nobody@park.test"])
    assert result.exit_code == 2
    assert "There is no account with email nobody@park.test." in result.output


def test_the_account_page_makes_lists_and_revokes_tokens(app, as_role):
    client = as_role("researcher")
    made = client.post(
        "/account/", data={"name": "R scripts", "csrf_token": csrf_token(client, "/account/")}
    )
    page = made.get_data(as_text=True)
    secret = re.search(r'<code id="new-token">([^<]+)</code>', page).group(1)
    assert "R scripts" in page and "active" in page
    assert _status(app.test_client(), secret) == 403  # a researcher may not upload
    token_id = fetch(app, select(ApiToken.id))[0][0]
    revoked = client.post(
        f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/account/")}
    )
    assert revoked.status_code == 302
    assert "revoked" in client.get("/account/").get_data(as_text=True)
    assert _status(app.test_client(), secret) == 401
    assert secret not in client.get("/account/").get_data(as_text=True)


def test_no_one_revokes_someone_elses_token(app, runner, as_role):
    runner.invoke(args=["user", "token", "admin@park.test"])
    client = as_role("ranger")
    token_id = fetch(app, select(ApiToken.id))[0][0]
    answer = client.post(
        f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/account/")}
    )
    assert answer.status_code == 404
    assert fetch(app, select(ApiToken.revoked_at)) == [(None,)]
