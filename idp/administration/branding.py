"""Administration > Settings > Branding: an organisation's display name, accent colour and logo (validated,
re-encoded as PNG, kept in the database), each change audited."""
from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from idp import audit
from idp.audit import Actor
from idp.models import Organisation, OrganisationBranding

from .permissions import AdminError

MAX_LOGO_BYTES = 200 * 1024
MAX_LOGO_PIXELS = 1024           # width and height, each
MIN_LOGO_PIXELS = 16
MAX_NAME = 100
ACCEPTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG"}   # by content, never by file name; SVG is refused
COLOUR = re.compile(r"^#[0-9a-f]{6}$")
DEFAULT_ACCENT = "#0b5cad"


class BrandingError(AdminError):
    """A branding value that cannot be saved; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Logo:
    png: bytes
    width: int
    height: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.png).hexdigest()


def of(db: Session, org: Organisation) -> OrganisationBranding | None:
    return db.get(OrganisationBranding, org.id)


def parse_colour(value: str | None) -> str | None:
    """"#rrggbb" (any case) → lower case; empty → None (the default colour)."""
    text = (value or "").strip().lower()
    if not text:
        return None
    if not COLOUR.match(text):
        raise BrandingError("accent_colour", "Accent colour: give a colour as #rrggbb, for example #0b5cad")
    if _contrast_with_white(text) < 3.0:
        raise BrandingError("accent_colour", "Accent colour: too light for white text on buttons; "
                                             "choose a darker colour")
    return text


def _contrast_with_white(colour: str) -> float:
    """WCAG 2 contrast ratio of white text on `colour`."""
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(colour[i:i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def parse_name(value: str | None) -> str:
    text = " ".join((value or "").split())
    if len(text) > MAX_NAME:
        raise BrandingError("display_name", f"Display name: at most {MAX_NAME} characters")
    return text


def read_logo(data: bytes) -> Logo:
    """A PNG or JPEG image of at most 200 KB and 1024×1024 pixels, decoded and re-encoded as PNG (no
    metadata, no trailing bytes, nothing a browser could sniff as something else). SVG is refused."""
    from PIL import Image, UnidentifiedImageError  # Pillow: loaded by the few requests that upload a logo

    if not data:
        raise BrandingError("logo", "Logo: choose an image file")
    if len(data) > MAX_LOGO_BYTES:
        raise BrandingError("logo", f"Logo: at most {MAX_LOGO_BYTES // 1024} KB (this file has {len(data) // 1024} KB)")
    try:
        image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except UnidentifiedImageError:
        raise BrandingError("logo", "Logo: only PNG or JPEG images (SVG is not accepted)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise BrandingError("logo", "Logo: the image is damaged or cannot be read") from None
    with image:
        _check_size(*image.size)     # before decoding any pixel
        width, height = image.size
        try:
            image.load()
            converted = image.convert("RGBA")
        except (OSError, ValueError, Image.DecompressionBombError):
            raise BrandingError("logo", "Logo: the image is damaged or cannot be read") from None
    out = io.BytesIO()
    converted.save(out, format="PNG", optimize=True)
    return Logo(out.getvalue(), width, height)


def _check_size(width: int, height: int) -> None:
    if width > MAX_LOGO_PIXELS or height > MAX_LOGO_PIXELS:
        raise BrandingError("logo", f"Logo: at most {MAX_LOGO_PIXELS}×{MAX_LOGO_PIXELS} pixels "
                                    f"(this image is {width}×{height})")
    if width < MIN_LOGO_PIXELS or height < MIN_LOGO_PIXELS:
        raise BrandingError("logo", f"Logo: at least {MIN_LOGO_PIXELS}×{MIN_LOGO_PIXELS} pixels")


def save(db: Session, org: Organisation, actor: Actor, *, display_name: str | None, accent_colour: str | None,
         logo: bytes | None, remove_logo: bool, now: datetime) -> tuple[str, ...]:
    """Validate everything first, then apply; returns the names of the changed fields (audited)."""
    name = parse_name(display_name)
    colour = parse_colour(accent_colour)
    new_logo = read_logo(logo) if logo else None
    row = of(db, org)
    if row is None:
        row = OrganisationBranding(organisation_id=org.id, display_name="", updated_at=now)
        db.add(row)
    changes: dict[str, dict] = {}
    if name != (row.display_name or ""):
        changes["display_name"] = {"old": row.display_name or "", "new": name}
        row.display_name = name
    if colour != row.accent_colour:
        changes["accent_colour"] = {"old": row.accent_colour, "new": colour}
        row.accent_colour = colour
    if new_logo is not None and new_logo.digest != row.logo_digest:
        changes["logo"] = {"old": row.logo_digest, "new": new_logo.digest,
                           "size": f"{new_logo.width}x{new_logo.height}"}
        row.logo_png, row.logo_digest = new_logo.png, new_logo.digest
        row.logo_width, row.logo_height = new_logo.width, new_logo.height
    elif remove_logo and row.logo_digest:
        changes["logo"] = {"old": row.logo_digest, "new": None}
        row.logo_png = row.logo_digest = row.logo_width = row.logo_height = None
    if changes:
        row.updated_at = now
        audit.record(db, "branding_changed", actor, organisation_id=org.id, target=org.slug,
                     details={"changed": sorted(changes), **changes})
    db.flush()
    return tuple(sorted(changes))
