"""Error pages a person can read: never a stack trace, always a way forward."""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError

log = logging.getLogger("idp.web")


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

    @app.errorhandler(OperationalError)
    def database_down(error: OperationalError):  # noqa: ANN202
        log.error("database unavailable during %s %s: %s", request.method, request.path, error.__class__.__name__)
        return render_template("error.html", title="Temporarily unavailable",
                               message="The service cannot reach its database right now. "
                                       "Nothing was changed. Please try again in a minute."), 503

    @app.errorhandler(500)
    def server_error(error):  # noqa: ANN001, ANN202
        return render_template("error.html", title="Something went wrong",
                               message="The request could not be completed and nothing was changed. "
                                       "Please try again."), 500
