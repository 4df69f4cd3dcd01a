"""The signed-in user's own account: personal API tokens, made, listed and revoked."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField

from tracker import tokens
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import ApiToken, utcnow
from tracker.web.forms import show_errors

bp = Blueprint("account", __name__, url_prefix="/account")


class TokenForm(FlaskForm):
    name = StringField("What it is for", default="uploads from the station laptop")


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    session = get_session()
    form, secret, status = TokenForm(), None, 200
    if form.validate_on_submit():
        try:
            _token, secret = tokens.issue(
                session, current_user, form.name.data or "", current_user, utcnow()
            )
            session.commit()
        except InvalidInput as exc:
            show_errors(form, exc)
            status = 400
    elif form.is_submitted():
        status = 400
    listed = tokens.of_user(session, current_user)
    page = render_template("account/index.html", form=form, secret=secret, tokens=listed)
    return page, status


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int):
    session = get_session()
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)
    tokens.revoke(session, token, current_user, utcnow())
    session.commit()
    flash(f"Token “{token.name}” revoked: it no longer signs anyone in.", "info")
    return redirect(url_for("account.index"))
