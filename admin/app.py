"""The admin panel's Quart application: blueprints, the guard, error pages, template helpers."""

from __future__ import annotations

import time
from pathlib import Path

from quart import Quart, Response, render_template
from quart.typing import ResponseReturnValue
from redis.asyncio import Redis
from werkzeug.exceptions import HTTPException

from admin import guard
from admin.accounts import Section
from admin.auth import auth
from admin.config import AdminPolicy
from admin.context import EXTENSION, AdminContext, identity
from admin.dead_letters import dead_letters
from admin.groups import groups
from admin.home import current_theme, home
from admin.limits import limits
from admin.plugin_events import plugin_events
from admin.sessions import sessions
from admin.settings_view import settings_view
from admin.stats import stats
from admin.ui_configs import ui_configs
from admin.users import users
from admin.videos import videos
from shared.bus import ping
from shared.errors import BusUnavailable
from shared.settings import Settings

HERE = Path(__file__).parent
# Each section's landing page, in the order the menu shows them.
MENU = ((Section.UI_CONFIGS, "ui_configs.index"), (Section.STATISTICS, "stats.index"),
        (Section.SESSIONS, "sessions.index"), (Section.USERS, "users.index"), (Section.SETTINGS, "settings_view.index"))


def create_app(settings: Settings, redis: Redis, policy: AdminPolicy | None = None) -> Quart:
    app = Quart(__name__, static_folder=str(HERE / "static"), static_url_path="/static",
                template_folder=str(HERE / "templates"))
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions[EXTENSION] = AdminContext(settings=settings, redis=redis, policy=policy or AdminPolicy())
    for blueprint in (auth, home, ui_configs, users, groups, stats, sessions, limits, plugin_events, videos,
                      dead_letters, settings_view):
        app.register_blueprint(blueprint)
    guard.install(app)
    app.register_error_handler(HTTPException, _error_page)
    app.add_template_global(guard.csrf_input, "csrf_input")
    app.add_template_filter(when, "when")
    app.add_template_global(identity, "identity")
    app.add_template_global(current_theme, "theme")
    app.jinja_env.globals["menu"] = MENU

    @app.get("/health")
    async def health() -> tuple[Response, int]:
        try:
            await ping(redis)
        except BusUnavailable:
            return Response("redis unreachable", mimetype="text/plain"), 503
        return Response("ok", mimetype="text/plain"), 200

    return app


def when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


async def _error_page(error: HTTPException) -> ResponseReturnValue:
    if error.code is None or error.code < 400:
        return error.get_response()
    page = await render_template("error.html", code=error.code, title=error.name, description=error.description)
    return page, error.code
