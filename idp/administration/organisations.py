"""Organisations, for the deployment operator (`system_admin`): list and create."""
from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import audit
from idp.audit import Actor
from idp.models import Organisation, OrganisationDomain

from .permissions import AdminError, AdminScope, Forbidden, NotFound

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _require_operator(scope: AdminScope) -> None:
    if not scope.system:
        raise Forbidden("only the deployment operator manages organisations")


def list_all(db: Session, scope: AdminScope) -> list[Organisation]:
    _require_operator(scope)
    return list(db.scalars(sa.select(Organisation).order_by(Organisation.slug)))


def get(db: Session, scope: AdminScope, organisation_id: int | str) -> Organisation:
    _require_operator(scope)
    try:
        org = db.get(Organisation, int(organisation_id))
    except (TypeError, ValueError):
        org = None
    if org is None:
        raise NotFound("There is no such organisation.")
    return org


def create(db: Session, scope: AdminScope, slug: str, name: str, domains: str | list[str], actor: Actor,
           *, now: datetime) -> Organisation:
    _require_operator(scope)
    slug = (slug or "").strip().lower()
    clean_name = " ".join((name or "").split())
    if not SLUG.match(slug):
        raise AdminError("Short name: lower-case letters, digits and '-' (at most 63)")
    if not clean_name or len(clean_name) > 200:
        raise AdminError("Name: between 1 and 200 characters")
    items = re.split(r"[,\s]+", domains) if isinstance(domains, str) else list(domains)
    cleaned = sorted({d.strip().lower() for d in items if d and d.strip()})
    for domain in cleaned:
        if not DOMAIN.match(domain):
            raise AdminError(f"Email domains: {domain!r} is not a domain name")
    if db.scalar(sa.select(Organisation.id).where(Organisation.slug == slug)):
        raise AdminError(f"An organisation {slug!r} already exists")
    taken = db.scalars(sa.select(OrganisationDomain.domain).where(OrganisationDomain.domain.in_(cleaned))).all()
    if taken:
        raise AdminError(f"The domain {taken[0]} already belongs to another organisation")
    org = Organisation(slug=slug, name=clean_name, created_at=now, allowed_methods=[], exempt_groups=[],
                       domains=[OrganisationDomain(domain=d) for d in cleaned])
    db.add(org)
    db.flush()
    audit.record(db, "organisation_created", actor, organisation_id=org.id, target=slug,
                 details={"name": clean_name, "domains": cleaned})
    return org
