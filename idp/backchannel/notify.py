"""Queue one back-channel logout job per application a browser session signed in to (§2.5: the OP sends a
Logout Token to each RP that has a session with it), in the transaction that ends the session.

The job holds no token: only which client, `sub` and the public `sid`; the Logout Token is made and
signed when it is delivered (idp.backchannel.delivery), so a retry never sends an expired one and
nothing that would be accepted by the application waits in the queue."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.models import BrowserSession, Client, User
from idp.outbox import queue

KIND = "backchannel_logout"


def session_ended(db: Session, row: BrowserSession) -> int:
    """Queue a Logout Token for every active client of `row` with a back-channel logout URI; how many."""
    client_ids = list(row.clients or [])
    if not client_ids:
        return 0
    targets = list(db.scalars(sa.select(Client.client_id).where(
        Client.client_id.in_(client_ids), Client.is_active.is_(True), Client.backchannel_logout_uri.is_not(None))
        .order_by(Client.client_id)))
    if not targets:
        return 0
    kek = db.info.get(queue.KEK)
    if kek is None:   # fail closed: a session that cannot tell its applications must not end silently
        raise RuntimeError("back-channel logout: this database session has no key-encryption key "
                           "(make sessions with idp.services' Database)")
    subject = db.scalar(sa.select(User.subject).where(User.id == row.user_id))
    for client_id in targets:
        queue.enqueue(db, kek, KIND, {"client_id": client_id, "sub": subject, "sid": row.public_sid})
    return len(targets)
