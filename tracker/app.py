"""The app factory: configuration, database, sign-in, blueprints and commands."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from tracker import PROJECT_ROOT, config, db


def create_app(test_config: dict | None = None, *, web: bool = True) -> Flask:
    """Build the app: configuration, database, sign-in, blueprints and CLI commands.

    `web=False` leaves out the pages (blueprints, sign-in, CSRF protection): the `tracker`
    commands that only call the domain modules start about 0.15 s sooner without importing every
    view and building the URL map, a tenth of the time to import a card of a thousand photos.
    """
    instance = config.instance_path()
    app = Flask(
        __name__,
        instance_path=str(instance),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    if test_config is None:
        settings = config.from_environment(instance)
    else:
        # Tests say everything they need; nothing leaks in from the developer's environment.
        settings = config.defaults(instance) | {"TESTING": True} | test_config
    app.config.from_mapping(config.finish(settings))
    if not str(app.config["MEDIA_DIR"]).startswith("s3://"):
        Path(app.config["MEDIA_DIR"]).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    from tracker.reid import store

    # Boxes of patterned species get their coat features from a background job.
    store.watch(app.extensions["tracker.sessionmaker"], app.config)
    # exifread logs every oddity of every file it reads; the tracker reports what matters.
    logging.getLogger("exifread").setLevel(logging.ERROR)

    if web:
        from tracker.figures import FigureCache
        from tracker.web import register_blueprints

        # Figures over all sightings, per web worker, valid while the data has not changed.
        app.extensions["tracker.figures"] = FigureCache()

        register_blueprints(app)

    from tracker.commands import register_commands

    register_commands(app)
    return app
