"""Administration: users, security settings (2FA enforcement), clients, the audit log, organisations.

`bp` (/admin) is for signed-in administrators; `invitation_bp` (/invitation/<token>) is the public page
where an invited user chooses their password. Registering `bp` registers both."""
from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
invitation_bp = Blueprint("invitation", __name__, url_prefix="/invitation")


@bp.record_once
def _register_invitations(state) -> None:  # noqa: ANN001
    state.app.register_blueprint(invitation_bp)


from . import (  # noqa: E402,F401
    audit_log,
    branding,
    clients,
    common,
    home,
    invitation,
    provisioning,  # noqa: E402,F401
    settings,
    users,
)
