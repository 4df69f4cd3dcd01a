"""Sign-in and sign-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from tracker import accounts, signin
from tracker.db import get_session
from tracker.errors import SignInRefused
from tracker.models import utcnow

bp = Blueprint("auth", __name__)


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me signed in on this device")


def _safe_next(target: str | None) -> str:
    # Only local paths: a crafted ?next= must not send a ranger to another site.
    if target and target.startswith("/") and not target.startswith("//"):
        return target if not urlsplit(target).netloc else url_for("main.dashboard")
    return url_for("main.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = _sign_in(form.email.data, form.password.data)
        except SignInRefused as exc:
            flash(str(exc), "error")
            status = 429 if exc.retry_after else 200
        else:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


def _sign_in(email: str, password: str):
    """Count the attempt (committed before the slow password check), then check it."""
    session, limits, now = get_session(), _limits(), utcnow()
    address = request.remote_addr or "unknown"  # the proxy's client, if TRACKER_PROXY_HOPS
    attempt = signin.begin(session, email, address, limits=limits, now=now)
    session.commit()  # counted, whatever happens next
    user = signin.finish(session, attempt, password, limits=limits, now=now)
    session.commit()
    return user


def _limits() -> signin.Limits:
    config = current_app.config
    return signin.Limits(
        pair_free=config["LOGIN_FREE_ATTEMPTS"],
        address_free=config["LOGIN_ADDRESS_FREE_ACCOUNTS"],
        max_delay=config["LOGIN_MAX_DELAY_SECONDS"],
    )


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out here and on every other device, "keep me signed in" cookies included."""
    if current_user.is_authenticated:
        session = get_session()
        accounts.sign_out(session, current_user._get_current_object())
        session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
