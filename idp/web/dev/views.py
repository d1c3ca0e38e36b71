"""/dev/outbox: the emails and text messages a development server sent (its `outbox` providers), newest first."""
from __future__ import annotations

from flask import abort, render_template

from idp.delivery.dev_outbox import DevOutbox
from idp.web.context import services

from . import bp


@bp.get("/outbox")
def outbox() -> str:
    config = services().config
    if not config.development:          # the blueprint is not even registered then; fail closed regardless
        abort(404)
    return render_template("dev/outbox.html", title="Development outbox",
                           messages=DevOutbox(config.instance_dir).messages(),
                           email_here=config.email.enabled and config.email.provider == "outbox",
                           sms_here=config.sms.provider == "outbox")
