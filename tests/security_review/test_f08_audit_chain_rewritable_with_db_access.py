"""Security review F-08 (fixed): the audit chain's digests are HMACs keyed from the key-encryption key, which is
not in the database. An insider who can only write the database deletes an entry, renumbers and re-hashes the
rest (with any key they can guess) and updates the chain head: `idp audit verify` still names the break."""
from __future__ import annotations

import sqlalchemy as sa

from idp import audit
from idp.models import AuditChainHead, AuditEvent


def test_rewriting_an_entry_and_rehashing_is_detected(services):
    with services.database.session() as db:
        for i in range(3):
            audit.record(db, "sign_in", audit.Actor(f"user:u{i}@example.com"), organisation_id=None,
                         details={"n": i})
    guessed_key = audit.derive_chain_key(b"not the deployment's key")
    with services.database.session() as db:                      # the insider: plain SQL access, no keys
        rows = list(db.scalars(sa.select(AuditEvent).where(AuditEvent.organisation_id.is_(None))
                               .order_by(AuditEvent.seq)))
        victim = next(r for r in rows if r.actor == "user:u1@example.com")
        db.delete(victim)                                         # remove the incriminating entry ...
        db.flush()
        previous, seq = audit.GENESIS, 0
        for row in rows:
            if row is victim:
                continue
            seq += 1
            row.seq, row.prev_digest = seq, previous                # ... renumber and re-hash the rest
            row.digest = audit.entry_digest(row, guessed_key)
            previous = row.digest
        head = db.get(AuditChainHead, "system")
        head.seq, head.digest = seq, previous
    with services.database.session() as db:
        result = audit.verify(db, None)
    # The secure behaviour: tampering without a key held outside the database is detected.
    assert not result.intact, "deleted audit entry + recomputed chain verifies as intact"
