"""Error pages a person can read: never a stack trace, always a way forward."""
from __future__ import annotations

import logging

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError

from idp.web.app_class import KEEP_COOKIE
from idp.web.context import drop_database_session

log = logging.getLogger("idp.web")


BACK_CHANNEL = {"oauth.token", "oauth.introspect", "oauth.revoke", "oauth.userinfo"}


def _nothing_kept() -> None:
    """The request failed: nothing it did is kept. Its database work is rolled back (never committed after
    the response; a wrong secret it counted is counted again on its own: idp.db.redo_if_rolled_back), the
    browser keeps the cookie it sent (a rotated one would name a session that was never stored), and the
    error page reads nothing from the database (no signed-in user for the menu)."""
    drop_database_session()
    g._login_user = current_app.login_manager.anonymous_user()
    setattr(g, KEEP_COOKIE, True)


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):  # noqa: ANN202
        return render_template("error.html", title="This form has expired",
                               message="The page was open too long or was sent from elsewhere. "
                                       "Go back, reload the page and try again."), 400

    @app.errorhandler(403)
    def forbidden(error):  # noqa: ANN001, ANN202
        return render_template("error.html", title="Not allowed",
                               message="Your account does not have permission to do this."), 403

    @app.errorhandler(404)
    def not_found(error):  # noqa: ANN001, ANN202
        return render_template("error.html", title="Page not found",
                               message="There is nothing at this address."), 404

    @app.errorhandler(413)
    def too_large(error):  # noqa: ANN001, ANN202
        """A body over MAX_CONTENT_LENGTH, or a form field over MAX_FORM_MEMORY_SIZE: refused unread."""
        if request.endpoint in BACK_CHANNEL:
            response = jsonify(error="invalid_request", error_description="The request is too large.")
            response.headers["Cache-Control"] = "no-store"
            return response, 413
        return render_template("error.html", title="This request is too large",
                               message="The request was too large to be accepted. Nothing was changed."), 413

    @app.errorhandler(OperationalError)
    def database_down(error: OperationalError):  # noqa: ANN202
        log.error("database unavailable during %s %s: %s", request.method, request.path, error.__class__.__name__)
        _nothing_kept()
        if request.endpoint in BACK_CHANNEL:
            response = jsonify(error="temporarily_unavailable",
                               error_description="The service cannot reach its database; try again shortly.")
            response.headers["Cache-Control"] = "no-store"
            response.headers["Retry-After"] = "30"
            return response, 503
        return render_template("error.html", title="Temporarily unavailable",
                               message="The service cannot reach its database right now. "
                                       "Nothing was changed. Please try again in a minute."), 503, {"Retry-After": "30"}

    @app.errorhandler(500)
    def server_error(error):  # noqa: ANN001, ANN202
        if isinstance(getattr(error, "original_exception", None), OperationalError):
            # the request's COMMIT (an after-request hook) lost the database: Flask sends that here, not to
            # database_down, and it is the same outage
            return database_down(error.original_exception)
        _nothing_kept()    # Flask still runs the after-request hooks: they must not commit
        return render_template("error.html", title="Something went wrong",
                               message="The request could not be completed and nothing was changed. "
                                       "Please try again."), 500
