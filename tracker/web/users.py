"""User accounts: list, create, edit (admins only)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, EmailField, PasswordField, SelectField
from wtforms.validators import EqualTo

from tracker import accounts
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import ROLES, User
from tracker.web import get_or_404, requires
from tracker.web.forms import form_status, show_errors

bp = Blueprint("users", __name__, url_prefix="/users")
MISMATCH = "The two passwords differ."


class UserForm(FlaskForm):
    # Only the confirmation is checked here; accounts.py decides what a valid account is.
    email = EmailField("Email")
    role = SelectField("Role", choices=ROLES, validate_choice=False)
    password = PasswordField("Password")
    confirm = PasswordField("Password again", validators=[EqualTo("password", MISMATCH)])


class UserEditForm(UserForm):
    email = None  # the sign-in name stays; make a new account for a new address
    active = BooleanField("Active (may sign in)")
    password = PasswordField("New password (leave empty to keep the current one)")


@bp.route("/")
@requires("manage")
def index():
    users = get_session().scalars(select(User).order_by(User.email)).all()
    return render_template("users/index.html", users=users)


@bp.route("/new", methods=["GET", "POST"])
@requires("manage")
def create():
    form = UserForm(role="ranger")
    if form.validate_on_submit():
        session = get_session()
        try:
            user = accounts.create_user(
                session,
                form.email.data or "",
                form.password.data or "",
                form.role.data,
                actor=current_user,
            )
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            flash(f"Account {user.email} ({user.role}) created.", "info")
            return redirect(url_for("users.index"))
    return render_template("users/form.html", form=form, user=None), form_status(form)


@bp.route("/<int:user_id>/edit", methods=["GET", "POST"])
@requires("manage")
def edit(user_id: int):
    user = get_or_404(User, user_id)
    form = UserEditForm(obj=user)
    if form.validate_on_submit():
        session = get_session()
        try:
            accounts.edit_user(
                session,
                user,
                role=form.role.data,
                active=form.active.data,
                password=form.password.data or None,
                actor=current_user,
            )
        except InvalidInput as exc:
            show_errors(form, exc)
        else:
            session.commit()
            if form.password.data and user.id == current_user.id:
                login_user(user)  # a new password ended every session, this one included
            flash(f"Account {user.email} saved.", "info")
            return redirect(url_for("users.index"))
    return render_template("users/form.html", form=form, user=user), form_status(form)
