"""The dashboard."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from tracker import charts, stats
from tracker.db import get_session
from tracker.web import requires

bp = Blueprint("main", __name__)


def _figures(session, minutes: int, timezone: str) -> tuple[stats.Dashboard, str | None]:
    figures = stats.dashboard(session, minutes, timezone)
    chart = None
    if figures.population.months:
        chart = charts.month_chart(
            figures.population.months,
            title="Independent leopard events per month",
            what="independent leopard events",
            chart_id="leopard-events-chart",
        )
    return figures, chart


@bp.route("/")
@requires("view")
def dashboard():
    session = get_session()
    minutes, timezone = current_app.config["EVENT_MINUTES"], current_app.config["TIMEZONE"]
    figures, chart = current_app.extensions["tracker.figures"].get(
        session,
        ("dashboard", minutes, timezone),
        lambda: _figures(session, minutes, timezone),
    )
    return render_template(
        "main/dashboard.html",
        overview=figures.overview,
        population=figures.population,
        chart=chart,
        minutes=minutes,
        timezone=timezone,
        latest=stats.latest_uploads(session),
    )
