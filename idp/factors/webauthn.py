"""Security keys and passkeys (WebAuthn), with py_webauthn doing every ceremony check (clientDataJSON type,
challenge, origin, RP id hash, user presence / verification, attestation, COSE key, signature).

The relying party is derived from `config.issuer`: RP id = its host name, origin = its scheme://host[:port].
Challenges are rows (idp.models.WebAuthnChallenge) bound to one purpose and one browser (its login
transaction or browser session) and used at most once, atomically: a replayed response finds its challenge
used. Credentials are SecondFactor rows (kind "webauthn": name, added, last used) each with one
WebAuthnCredential (id, public key, sign count, transports, backup flags). A credential id is unique over all
accounts; one offered for another account is refused and audited, as is a sign count that went backwards.

amr ("hwk" or "swk", RFC 8176) of a successful assertion, decided from what the credential told us:
  * "swk" when the credential is backup eligible (a synced, multi-device passkey: the private key can leave
    the device), or was created by a platform authenticator (authenticatorAttachment "platform", or it
    only reports the "internal"/"hybrid" transports): a passkey in a phone, laptop or password manager;
  * "hwk" otherwise: a device-bound roaming authenticator (usb / nfc / ble security key)."""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import audit, factor_rows
from idp.audit import Actor
from idp.clock import now as clock_now
from idp.models import SecondFactor, User, WebAuthnChallenge, WebAuthnCredential
from idp.security.secrets import digest

from .binding import binding  # noqa: F401  (re-exported: webauthn.binding)

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

    from idp.config import AppConfig

# py_webauthn (and the cbor2, pyOpenSSL and pyasn1 it loads) is imported by the functions that run a
# ceremony: a worker that never sees a security key or passkey does not keep it in memory.

KIND = "webauthn"
CHALLENGE_TTL = timedelta(minutes=5)
TIMEOUT_MS = 120_000
MAX_NAME = 60
MAX_RESPONSE = 64 * 1024          # a posted credential larger than this is not read
PLATFORM_TRANSPORTS = {"internal", "hybrid"}

# what the person reads
NO_RESPONSE = "Your browser did not send an answer from a security key or passkey. Try again."
GONE = "This request took too long or was already used. Try again."
NOT_VERIFIED = "Your security key or passkey could not be checked. Try again, or choose another way."
UNKNOWN = "That security key or passkey is not registered for this account. Use one you added, or another way."
NOT_HERE = "That passkey is not registered here. Use a passkey you added to your account, or sign in another way."
FOREIGN = "That security key or passkey belongs to another account. Use one of your own."
CLONED = ("That security key or passkey reported an impossible use counter, which can mean it was copied. "
          "It was not accepted. Use another way and tell your administrator.")
UV_NEEDED = ("Your passkey must check it's you (PIN, fingerprint or face). Try again, or sign in with your "
             "password.")
ALREADY = "This security key or passkey is already registered to your account."
NAME_NEEDED = "Give the security key or passkey a name, so you can recognise it later."
NAME_LONG = f"Use at most {MAX_NAME} characters for the name."


class WebAuthnError(Exception):
    """A refused ceremony: `message` for the person, `reason` for the audit log, `counts` when it was a
    real but wrong answer (it counts as a failed second-factor attempt)."""

    def __init__(self, message: str, reason: str, *, counts: bool = False) -> None:
        super().__init__(message)
        self.message, self.reason, self.counts = message, reason, counts


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str
    name: str


@dataclass(frozen=True)
class Verified:
    """A checked assertion: whose credential, and what it proves."""

    user: User
    factor: SecondFactor
    credential: WebAuthnCredential
    amr: str                # "hwk" | "swk"
    user_verified: bool


def relying_party(config: "AppConfig") -> RelyingParty:
    """RP id = the issuer's host name; origin = its scheme://host[:port] (no path)."""
    parts = urlsplit(config.issuer)
    host = (parts.hostname or "localhost").lower()
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    return RelyingParty(id=host, origin=f"{parts.scheme}://{host}{port}", name=config.totp.issuer)


def address_problem(config: "AppConfig") -> str | None:
    """Why security keys and passkeys cannot work on this server, when its issuer's host is an IP address
    (browsers refuse an IP address as the WebAuthn RP id, whatever the scheme); None when the host is a name."""
    host = relying_party(config).id
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return (f"Security keys and passkeys cannot work on this server's address: {host} is an IP address, and "
            "browsers only allow them on a host name (such as localhost or login.example.com). Use another way "
            "for now, and ask your administrator to give the server a host name (its issuer).")


def user_handle(user: User) -> bytes:
    """The WebAuthn user.id: the opaque, stable subject (no email address or database id)."""
    return user.subject.encode("ascii")


def amr_for(credential: WebAuthnCredential) -> str:
    """"swk" for a synced or platform passkey, "hwk" for a device-bound security key (see the module doc)."""
    if credential.backup_eligible:
        return "swk"
    transports = set(credential.transports or [])
    if credential.attachment == "platform" or (transports and transports <= PLATFORM_TRANSPORTS):
        return "swk"
    return "hwk"


# --------------------------------------------------------------------------- challenges

def new_challenge(db: Session, purpose: str, bound_to: str, user_id: int | None = None) -> WebAuthnChallenge:
    """A fresh random challenge for one ceremony; challenges expired for a day are removed."""
    from webauthn.helpers import bytes_to_base64url, generate_challenge

    current = clock_now()
    db.execute(sa.delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at < current - timedelta(days=1)))
    row = WebAuthnChallenge(challenge=bytes_to_base64url(generate_challenge()), purpose=purpose, binding=bound_to,
                            user_id=user_id, created_at=current, expires_at=current + CHALLENGE_TTL)
    db.add(row)
    db.flush()
    return row


def open_challenge(db: Session, challenge_id: Any, purpose: str, bound_to: str) -> WebAuthnChallenge | None:
    """The unused, unexpired challenge with this id for this purpose and browser, else None."""
    try:
        key = int(challenge_id)
    except (TypeError, ValueError):
        return None
    row = db.get(WebAuthnChallenge, key)
    if (row is None or row.purpose != purpose or row.binding != bound_to or row.used_at is not None
            or row.expires_at <= clock_now()):
        return None
    return row


def consume_challenge(db: Session, challenge_id: Any, purpose: str, bound_to: str) -> bytes:
    """Use the challenge up (whatever the answer turns out to be); of two concurrent uses one wins."""
    from webauthn.helpers import base64url_to_bytes

    row = open_challenge(db, challenge_id, purpose, bound_to)
    if row is None:
        raise WebAuthnError(GONE, "challenge")
    current = clock_now()
    claimed = db.execute(sa.update(WebAuthnChallenge).where(
        WebAuthnChallenge.id == row.id, WebAuthnChallenge.used_at.is_(None), WebAuthnChallenge.expires_at > current)
        .values(used_at=current).execution_options(synchronize_session=False)).rowcount
    db.expire(row)
    if claimed != 1:
        raise WebAuthnError(GONE, "challenge")
    return base64url_to_bytes(row.challenge)


# --------------------------------------------------------------------------- the person's keys

def keys(db: Session, user: User) -> list[tuple[SecondFactor, WebAuthnCredential]]:
    """The user's confirmed security keys and passkeys, oldest first (none without a confirmed webauthn factor)."""
    if not any(f.kind == KIND for f in factor_rows.confirmed(db, user)):
        return []
    rows = db.execute(sa.select(SecondFactor, WebAuthnCredential)
                      .join(WebAuthnCredential, WebAuthnCredential.factor_id == SecondFactor.id)
                      .where(SecondFactor.user_id == user.id, SecondFactor.kind == KIND,
                             SecondFactor.confirmed_at.is_not(None))
                      .order_by(SecondFactor.created_at, SecondFactor.id))
    return [(factor, credential) for factor, credential in rows]


def has_keys(db: Session, user: User, *, discoverable_only: bool = False) -> bool:
    listed = keys(db, user)
    if discoverable_only:
        return any(c.discoverable is not False for _, c in listed)
    return bool(listed)


def own_key(db: Session, user: User, factor_id: int) -> tuple[SecondFactor, WebAuthnCredential] | None:
    return next(((f, c) for f, c in keys(db, user) if f.id == factor_id), None)


def checked_name(name: str | None) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise WebAuthnError(NAME_NEEDED, "name")
    if len(cleaned) > MAX_NAME:
        raise WebAuthnError(NAME_LONG, "name")
    return cleaned


def rename(db: Session, user: User, factor_id: int, name: str) -> SecondFactor | None:
    found = own_key(db, user, factor_id)
    if found is None:
        return None
    found[0].name = checked_name(name)
    db.flush()
    return found[0]


def _descriptor(credential: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    transports = []
    for value in credential.transports or []:
        try:
            transports.append(AuthenticatorTransport(value))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(id=credential.credential_id, transports=transports or None)


def _options_json(options: Any, **extra: Any) -> str:
    from webauthn.helpers import options_to_json_dict

    data = options_to_json_dict(options)
    data.update(extra)
    return json.dumps(data)


# --------------------------------------------------------------------------- registration

def registration_options(db: Session, config: "AppConfig", user: User, bound_to: str) -> tuple[int, str]:
    """(challenge id, PublicKeyCredentialCreationOptions as JSON) for adding a key to `user`: a
    discoverable credential when the authenticator can (passkey), user verification preferred, the keys
    already registered excluded, credProps asked for (to know whether it is discoverable)."""
    from webauthn import generate_registration_options
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    rp = relying_party(config)
    challenge = new_challenge(db, "register", bound_to, user.id)
    options = generate_registration_options(
        rp_id=rp.id, rp_name=rp.name, user_id=user_handle(user), user_name=user.email,
        user_display_name=user.name or user.email, challenge=base64url_to_bytes(challenge.challenge),
        timeout=TIMEOUT_MS, exclude_credentials=[_descriptor(c) for _, c in keys(db, user)],
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED))
    return challenge.id, _options_json(options, extensions={"credProps": True})


def _posted(credential_json: str | None) -> dict[str, Any]:
    if not credential_json or len(credential_json) > MAX_RESPONSE:
        raise WebAuthnError(NO_RESPONSE, "no_response")
    try:
        data = json.loads(credential_json)
    except ValueError:
        raise WebAuthnError(NO_RESPONSE, "malformed") from None
    if not isinstance(data, dict):
        raise WebAuthnError(NO_RESPONSE, "malformed")
    return data


def register(db: Session, config: "AppConfig", user: User, bound_to: str, challenge_id: Any,
             credential_json: str | None, name: str | None, actor: Actor) -> SecondFactor:
    """Check a registration response (py_webauthn) and store the new key as a confirmed SecondFactor."""
    from webauthn import verify_registration_response
    from webauthn.helpers import bytes_to_base64url, parse_registration_credential_json
    from webauthn.helpers.exceptions import WebAuthnException

    label = checked_name(name)
    data = _posted(credential_json)
    expected = consume_challenge(db, challenge_id, "register", bound_to)
    rp = relying_party(config)
    try:
        credential = parse_registration_credential_json(data)
        verified = verify_registration_response(credential=credential, expected_challenge=expected,
                                                expected_rp_id=rp.id, expected_origin=rp.origin)
    except WebAuthnException as exc:
        _refused(db, user, actor, "invalid", str(exc), purpose="register")
        raise WebAuthnError(NOT_VERIFIED, "invalid") from None
    key = digest(bytes_to_base64url(verified.credential_id))
    taken = db.scalar(sa.select(WebAuthnCredential).where(WebAuthnCredential.credential_key == key))
    if taken is not None and taken.user_id == user.id:
        raise WebAuthnError(ALREADY, "already_registered")
    if taken is not None:
        _refused(db, user, actor, "foreign_credential", "the credential is registered to another account",
                 purpose="register", event="webauthn_foreign_credential")
        raise WebAuthnError(FOREIGN, "foreign_credential", counts=True)
    current = clock_now()
    factor = SecondFactor(user_id=user.id, kind=KIND, name=label, data={}, created_at=current, confirmed_at=current)
    db.add(factor)
    db.flush()
    rk = (data.get("clientExtensionResults") or {}).get("credProps", {}).get("rk")
    db.add(WebAuthnCredential(
        factor_id=factor.id, user_id=user.id, credential_key=key, credential_id=verified.credential_id,
        public_key=verified.credential_public_key, sign_count=verified.sign_count,
        transports=[t.value for t in (credential.response.transports or [])],
        attachment=credential.authenticator_attachment.value if credential.authenticator_attachment else None,
        aaguid=verified.aaguid, backup_eligible=verified.credential_device_type.value == "multi_device",
        backed_up=verified.credential_backed_up, discoverable=rk if isinstance(rk, bool) else None,
        user_verified=verified.user_verified, created_at=current))
    db.flush()
    return factor


# --------------------------------------------------------------------------- authentication

def authentication_options(db: Session, config: "AppConfig", challenge: WebAuthnChallenge, user: User | None,
                           *, user_verification: str = "preferred") -> str:
    """PublicKeyCredentialRequestOptions as JSON for an existing challenge: the user's keys as
    allowCredentials, or none (a discoverable credential: "Sign in with a passkey")."""
    from webauthn import generate_authentication_options
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.structs import UserVerificationRequirement

    allowed = [_descriptor(c) for _, c in keys(db, user)] if user is not None else []
    options = generate_authentication_options(
        rp_id=relying_party(config).id, challenge=base64url_to_bytes(challenge.challenge), timeout=TIMEOUT_MS,
        allow_credentials=allowed, user_verification=UserVerificationRequirement(user_verification))
    return _options_json(options)


def authenticate(db: Session, config: "AppConfig", *, purpose: str, bound_to: str, challenge_id: Any,
                 credential_json: str | None, user: User | None, actor: Actor,
                 require_user_verification: bool = False) -> Verified:
    """Check an assertion (py_webauthn) for `user` (None: whoever owns the discoverable credential) and
    record its use: new sign count (it must go up, unless the authenticator keeps none), last used."""
    from webauthn import verify_authentication_response
    from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json
    from webauthn.helpers.exceptions import WebAuthnException

    data = _posted(credential_json)
    expected = consume_challenge(db, challenge_id, purpose, bound_to)
    try:
        credential = parse_authentication_credential_json(data)
    except WebAuthnException:
        raise WebAuthnError(NO_RESPONSE, "malformed") from None
    stored = db.scalar(sa.select(WebAuthnCredential).join(SecondFactor, SecondFactor.id == WebAuthnCredential.factor_id)
                       .where(WebAuthnCredential.credential_key == digest(bytes_to_base64url(credential.raw_id)),
                              SecondFactor.confirmed_at.is_not(None)))
    if stored is None:
        if user is not None:
            _refused(db, user, actor, "unknown_credential", "no such credential is registered", purpose=purpose)
        raise WebAuthnError(UNKNOWN if user is not None else NOT_HERE, "unknown_credential", counts=user is not None)
    owner = db.get(User, stored.user_id)
    if user is not None and owner.id != user.id:
        _refused(db, user, actor, "foreign_credential", "the credential is registered to another account",
                 purpose=purpose, event="webauthn_foreign_credential")
        raise WebAuthnError(FOREIGN, "foreign_credential", counts=True)
    handle = credential.response.user_handle
    if handle is not None and handle != user_handle(owner):
        _refused(db, owner, actor, "user_handle", "the user handle does not match the credential's account",
                 purpose=purpose, event="webauthn_foreign_credential")
        raise WebAuthnError(NOT_VERIFIED, "user_handle", counts=True)
    rp = relying_party(config)
    try:
        # The sign count is compared below, once the signature is known to be good: a regression is then a
        # real sign of a cloned authenticator (py_webauthn is given 0, so it checks the signature first).
        checked = verify_authentication_response(
            credential=credential, expected_challenge=expected, expected_rp_id=rp.id, expected_origin=rp.origin,
            credential_public_key=stored.public_key, credential_current_sign_count=0,
            require_user_verification=require_user_verification)
    except WebAuthnException as exc:
        reason = "user_verification" if "verification is required" in str(exc) else "invalid"
        _refused(db, owner, actor, reason, str(exc), purpose=purpose)
        raise WebAuthnError(UV_NEEDED if reason == "user_verification" else NOT_VERIFIED, reason,
                            counts=reason == "invalid") from None
    _advance_sign_count(db, owner, stored, checked.new_sign_count, actor, purpose)
    factor = db.get(SecondFactor, stored.factor_id)
    current = clock_now()
    factor.last_used_at = current
    stored.backed_up = checked.credential_backed_up
    db.flush()
    return Verified(owner, factor, stored, amr_for(stored), checked.user_verified)


def _advance_sign_count(db: Session, owner: User, stored: WebAuthnCredential, new: int, actor: Actor,
                        purpose: str) -> None:
    """The counter must grow (atomically, so two workers cannot both accept the same count); 0 → 0 means the
    authenticator keeps no counter (many passkeys), which is allowed."""
    old = stored.sign_count or 0
    if new == 0 and old == 0:
        return
    moved = 0
    if new > old:
        moved = db.execute(sa.update(WebAuthnCredential).where(
            WebAuthnCredential.id == stored.id, WebAuthnCredential.sign_count < new)
            .values(sign_count=new).execution_options(synchronize_session=False)).rowcount
        db.expire(stored)
    if moved != 1:
        _refused(db, owner, actor, "sign_count_regression", f"sign count {new} after {old}", purpose=purpose,
                 event="webauthn_sign_count_regression", factor_id=stored.factor_id)
        raise WebAuthnError(CLONED, "sign_count_regression", counts=True)


def _refused(db: Session, user: User, actor: Actor, reason: str, detail: str, *, purpose: str,
             event: str = "webauthn_refused", factor_id: int | None = None) -> None:
    details: dict[str, Any] = {"reason": reason, "detail": detail[:200], "purpose": purpose}
    if factor_id is not None:
        details["factor_id"] = factor_id
    audit.record(db, event, actor, organisation_id=user.organisation_id, target_user_id=user.id,
                 target=user.email, outcome="failure", details=details)
