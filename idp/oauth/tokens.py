"""Storage of codes and tokens (digests only), single use, rotation, and family revocation."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager, joinedload, lazyload

from idp.clock import now
from idp.fast_lookup import EntityLookup, Lookup, Statement
from idp.models import AuthorizationCode, BrowserSession, Client, Organisation, Token, User
from idp.security.secrets import digest, new_token


def _with_user(relationship):  # noqa: ANN001, ANN202
    """Load the row's user in the same query, but not the user's organisation, groups and permissions
    (they load if something asks): one query instead of four on the hot paths (token, refresh, userinfo)."""
    return joinedload(relationship).options(lazyload(User.organisation), lazyload(User.groups),
                                            lazyload(User.permissions))


# The code exchange's one lookup: the code, its user and the public id of its browser session (`sid`), in one
# precompiled statement (idp.fast_lookup); the user's organisation, groups and permissions load if asked.
_CODE_LOOKUP = EntityLookup(
    (AuthorizationCode, User),
    lambda columns: columns.add_columns(BrowserSession.public_sid).select_from(AuthorizationCode)
    .join(User, User.id == AuthorizationCode.user_id)
    .outerjoin(BrowserSession, BrowserSession.sid == AuthorizationCode.sid)
    .where(AuthorizationCode.code_digest == sa.bindparam("digest")))
_CLAIM_CODE = Statement(sa.update(AuthorizationCode)
                        .where(AuthorizationCode.id == sa.bindparam("code_id"), AuthorizationCode.used_at.is_(None))
                        .values(used_at=sa.bindparam("at")))


_CODE_COLUMNS = tuple(column for column in AuthorizationCode.__table__.columns if column.key != "id")
_INSERT_CODE = Statement(AuthorizationCode.__table__.insert().values(
    {column.key: sa.bindparam(column.key, type_=column.type) for column in _CODE_COLUMNS}))


def insert_code(db: Session, **values: object) -> None:
    """Insert an authorization code row (Core, in `db`'s transaction: nothing reads it back in the request;
    the session's pending changes stay pending). `values`: every column but `id` (`used_at` None)."""
    _INSERT_CODE.rowcount_in(db, **values)


def consume_code(db: Session, code: str, client_id: str) -> AuthorizationCode | None:
    """Return the code's row and mark it used, atomically; a second use revokes what it issued. The row's
    `public_sid` (not a column) is the `sid` claim for its browser session (None when it has none)."""
    found = _CODE_LOOKUP.first_in(db, digest=digest(code))
    if found is None or found[0].client_id != client_id:
        return None
    row, _user, row.public_sid = found
    current = now()
    claimed = _CLAIM_CODE.rowcount_in(db, code_id=row.id, at=current)
    if claimed != 1:
        revoke_tokens(db, Token.code_id == row.id)
        return None
    if row.expires_at <= current:
        return None
    return row


def revoke_tokens(db: Session, *where: sa.ColumnElement[bool]) -> int:
    """Revoke every live token matching `where`; returns how many were revoked."""
    return db.execute(
        sa.update(Token).where(*where, Token.revoked_at.is_(None)).values(revoked_at=now())
        .execution_options(synchronize_session=False)
    ).rowcount


# The refresh grant's one lookup: the token, its user with the organisation (the session policy reads both)
# and the browser session it came from (what the sign-in proved), in one indexed query.
_REFRESH_LOOKUP = (
    sa.select(Token, BrowserSession)
    .join(Token.user).join(User.organisation)
    .outerjoin(BrowserSession, BrowserSession.sid == Token.sid)
    .options(contains_eager(Token.user).contains_eager(User.organisation),
             lazyload(Token.user, User.groups), lazyload(Token.user, User.permissions))
    .where(Token.refresh_token_digest == sa.bindparam("digest")))
_ROTATE = Statement(sa.update(Token).where(Token.id == sa.bindparam("token_id"), Token.refresh_used_at.is_(None))
                    .values(refresh_used_at=sa.bindparam("at")))


# The same lookup with the token's client, for the refresh answered before Flask (idp.oauth.refresh): the
# columns in one precompiled query. The user is attached to the session as the ORM would load it (the
# session policy may read its groups or factors); the rest is only read, so it stays detached (cheaper).
_REFRESH_ENTITIES = EntityLookup(
    (Token, User, Organisation, Client, BrowserSession),
    lambda columns: columns.select_from(Token).join(User, User.id == Token.user_id)
    .join(Organisation, Organisation.id == User.organisation_id).join(Client, Client.client_id == Token.client_id)
    .outerjoin(BrowserSession, BrowserSession.sid == Token.sid)
    .where(Token.refresh_token_digest == sa.bindparam("digest")),
    detached=(Token, Organisation, Client, BrowserSession))


def find_refresh_token(db: Session, refresh_token: str, client_id: str) -> Token | None:
    """The token row for a refresh token; a reused (already rotated) one revokes its whole family. The row's
    `sign_in_session` (not a column) is its browser session, loaded in the same query (None when gone)."""
    found = db.execute(_REFRESH_LOOKUP, {"digest": digest(refresh_token)}).first()
    return None if found is None else _usable(db, *found, client_id=client_id)


def find_refresh_token_and_client(db: Session, refresh_token: str, client_id: str) -> tuple[Token, Client] | None:
    """find_refresh_token, with the token's client (not yet authenticated) from the same query."""
    found = _REFRESH_ENTITIES.first_in(db, digest=digest(refresh_token))
    if found is None:
        return None
    token, _user, _organisation, client, sign_in_session = found    # the user and organisation: token.user
    row = _usable(db, token, sign_in_session, client_id=client_id)
    return None if row is None else (row, client)


def _usable(db: Session, row: Token, sign_in_session: BrowserSession | None, *, client_id: str) -> Token | None:
    if row.client_id != client_id:
        return None
    row.sign_in_session = sign_in_session
    if row.refresh_used_at is not None:
        revoke_tokens(db, Token.family_id == row.family_id)
        return None
    if row.revoked_at is not None or (row.refresh_expires_at and row.refresh_expires_at <= now()):
        return None
    return row


def mark_rotated(db: Session, row: Token) -> bool:
    """Mark a refresh token used; False when another request rotated it first (then: family revoked)."""
    claimed = _ROTATE.rowcount_in(db, token_id=row.id, at=now())
    if claimed != 1:
        revoke_tokens(db, Token.family_id == row.family_id)
    return claimed == 1


# userinfo's one lookup: what the claims need, as plain columns (no ORM objects, no relationship loading)
_ACCESS_LOOKUP = (
    sa.select(Token.scope, Token.revoked_at, Token.access_expires_at, User.is_active, User.subject, User.email,
              User.email_verified, User.name)
    .join(User, User.id == Token.user_id)
    .where(Token.access_token_digest == sa.bindparam("digest")))


_ACCESS = Lookup(_ACCESS_LOOKUP)


def find_access_token(conn: sa.Connection, access_token: str) -> sa.Row | None:
    """A live (unexpired, unrevoked) access token of an active user: its `scope` and the user's claim
    columns (`subject`, `email`, `email_verified`, `name`), or None."""
    return _live(conn.execute(_ACCESS_LOOKUP, {"digest": digest(access_token)}).first())


def look_up_access_token(engine: sa.Engine, access_token: str) -> tuple | None:
    """find_access_token outside any transaction, on the DBAPI cursor (idp.fast_lookup): userinfo's hot path."""
    return _live(_ACCESS.first(engine, digest=digest(access_token)))


def _live(row):  # noqa: ANN001, ANN202
    if row is None or row.revoked_at is not None or row.access_expires_at <= now() or not row.is_active:
        return None
    return row


def find_any_token(db: Session, value: str, hint: str | None) -> Token | None:
    """For revocation/introspection: look the value up as the hinted kind first, then the other."""
    found = find_token_and_kind(db, value, hint)
    return found[0] if found else None


def find_token_and_kind(db: Session, value: str, hint: str | None) -> tuple[Token, str] | None:
    """The row holding `value` and which of its two values it is ("access_token" / "refresh_token")."""
    kinds = ["refresh_token", "access_token"] if hint == "refresh_token" else ["access_token", "refresh_token"]
    for kind in kinds:
        column = Token.refresh_token_digest if kind == "refresh_token" else Token.access_token_digest
        row = db.scalar(sa.select(Token).options(_with_user(Token.user)).where(column == digest(value)))
        if row is not None:
            return row, kind
    return None


def is_live(row: Token, kind: str) -> bool:
    """Would this value be accepted now? An access token until it expires; a refresh token until it is
    rotated or expires; neither once revoked or when the user is disabled."""
    if row.revoked_at is not None or not row.user.is_active:
        return False
    current = now()
    if kind == "refresh_token":
        return row.refresh_used_at is None and row.refresh_expires_at is not None and row.refresh_expires_at > current
    return row.access_expires_at > current


# every column of an issued token (issued_row's keys): rotation and revocation fill the others later
_ISSUED_COLUMNS = ("access_token_digest", "refresh_token_digest", "client_id", "user_id", "scope", "family_id",
                   "code_id", "sid", "auth_time", "amr", "acr", "issued_at", "access_expires_at", "refresh_expires_at")
_INSERT_TOKEN = Statement(Token.__table__.insert().values({name: sa.bindparam(name) for name in _ISSUED_COLUMNS}))


def issued_row(token: dict, *, client_id: str, user_id: int, refresh_ttl: int, code: AuthorizationCode | None = None,
               previous: Token | None = None) -> dict:
    """The row (digests only) of a token response `token`, with where it came from: the code it was
    exchanged for, or the refresh token it rotates (same family, code and sign-in)."""
    source = code or previous
    current = now()
    refresh = token.get("refresh_token")
    return dict(
        access_token_digest=digest(token["access_token"]),
        refresh_token_digest=digest(refresh) if refresh else None,
        client_id=client_id, user_id=user_id, scope=token.get("scope", ""),
        family_id=previous.family_id if previous else new_family_id(),
        code_id=code.id if code else (previous.code_id if previous else None),
        sid=source.sid if source else None, auth_time=source.auth_time if source else None,
        amr=list(source.amr or []) if source else [], acr=source.acr if source else None,
        issued_at=current, access_expires_at=current + timedelta(seconds=token["expires_in"]),
        refresh_expires_at=current + timedelta(seconds=refresh_ttl) if refresh else None)


def insert_issued(db: Session, row: dict) -> None:
    """Insert an issued_row (Core: nothing reads the row back in the request)."""
    _INSERT_TOKEN.rowcount_in(db, **row)


def new_family_id() -> str:
    return new_token(16)


def expiry(seconds: int) -> "sa.types.DateTime":
    return now() + timedelta(seconds=seconds)
