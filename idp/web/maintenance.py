"""The periodic purge of expired rows (idp.purge), started after a response has been sent (never delaying
it, outside the request's transaction); the `maintenance_lease` row keeps it to one run per interval."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response

from idp.purge import PurgeSchedule


def init_app(app: Flask) -> None:
    services = app.extensions["idp"]
    config = services.config.purge
    if config.interval_minutes == 0:
        return
    schedule = PurgeSchedule(services.database.engine, timedelta(minutes=config.interval_minutes),
                             timedelta(hours=config.retention_hours))
    app.extensions["idp.purge"] = schedule

    @app.after_request
    def _purge_when_due(response: Response) -> Response:
        if schedule.due_here():
            response.call_on_close(schedule.run_if_due)   # runs once the response has gone to the client
        return response
