"""Blueprints, sign-in and CSRF protection for the web app."""

from __future__ import annotations

from functools import wraps

from flask import Flask, abort
from flask_login import LoginManager, current_user, login_required
from flask_wtf.csrf import CSRFProtect

from tracker import accounts
from tracker.db import get_session
from tracker.models import User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"
csrf = CSRFProtect()


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    # Every request, from the session or the remember cookie: an ended session stops here.
    return accounts.session_user(get_session(), session_id)


def requires(permission: str):
    """A view for signed-in users holding `permission`: others get sign-in or a 403 page."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not accounts.can(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def get_or_404(model, ident: int, *options):
    """The row with this primary key, or the 404 page."""
    row = get_session().get(model, ident, options=options)
    if row is None:
        abort(404)
    return row


def register_blueprints(app: Flask) -> None:
    from tracker.web import security

    security.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    from tracker.web import (
        account,
        auth,
        boxes,
        clocks,
        deployments,
        detections,
        errors,
        exports,
        images,
        individuals,
        library,
        likely_empty,
        main,
        maps,
        people,
        photoid,
        review,
        species,
        stations,
        uploads,
        users,
    )

    for module in (
        auth,
        account,
        main,
        images,
        library,
        stations,
        deployments,
        clocks,
        individuals,
        photoid,
        maps,
        review,
        likely_empty,
        boxes,
        detections,
        people,
        exports,
        species,
        uploads,
        users,
        errors,
    ):
        app.register_blueprint(module.bp)

    @app.context_processor
    def permissions():
        return {"can": lambda permission: accounts.can(current_user, permission)}
