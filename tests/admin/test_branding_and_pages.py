"""Branding per organisation (Administration > Settings > Branding): validated logo and colour, served by the
IdP with caching headers, audited, applied to the sign-in pages once the organisation is known and to the
account pages; and the small pages that said too little: invitation's password rule, the root URL, signing out."""
from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from PIL import Image

from idp.models import Organisation, OrganisationBranding
from tests.admin.helpers import audit_events, csrf_token, main, post, sign_in, snapshot
from tests.support.browser import Browser


@pytest.fixture
def acme_admin(browser, orgs, services, frozen_clock):  # noqa: ANN001, ANN201
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    return browser


def image(fmt: str = "PNG", size: tuple[int, int] = (120, 40), colour: str = "#c0392b") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def upload(browser: Browser, data: bytes, filename: str = "logo.png", **fields: str):  # noqa: ANN201
    payload = {"csrf_token": csrf_token(browser, "/admin/settings/branding"), "display_name": "Acme Field Service",
               "accent_colour": "#8a1538", **fields, "logo": (io.BytesIO(data), filename)}
    return browser.client.post("/admin/settings/branding", data=payload, content_type="multipart/form-data")


def test_set_branding_and_see_it_served(acme_admin, orgs, services, client):
    reply = upload(acme_admin, image())
    assert reply.status_code == 302
    with services.database.session() as db:
        row = db.get(OrganisationBranding, orgs["acme"].id)
        assert (row.display_name, row.accent_colour, row.logo_width, row.logo_height) == \
            ("Acme Field Service", "#8a1538", 120, 40)
        digest = row.logo_digest
    page = acme_admin.open("/admin/settings/branding")
    assert "Branding saved." in page.text
    logo_url = re.search(r'<img class="brand-logo" src="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    theme_url = re.search(r'<link rel="stylesheet" href="(/branding/acme/theme\.css[^"]*)"', page.text).group(1)
    assert "<title>Branding · Administration · Acme Field Service</title>" in page.text
    logo = client.get(logo_url)
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data.startswith(b"\x89PNG")
    assert "immutable" in logo.headers["Cache-Control"] and logo.headers["ETag"] == f'"{digest}"'
    assert logo.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert client.get(logo_url, headers={"If-None-Match": f'"{digest}"'}).status_code == 304
    theme = client.get(theme_url.replace("&amp;", "&"))
    assert theme.mimetype == "text/css" and theme.get_data(as_text=True) == ":root { --accent: #8a1538; --accent-ink: #fff; }\n"
    entry = audit_events(services, orgs["acme"].id, "branding_changed")[-1]
    assert entry.details["changed"] == ["accent_colour", "display_name", "logo"]
    assert "Acme Admin changed the branding (accent colour, display name, logo)" in main(acme_admin.open("/admin/audit"))


@pytest.mark.parametrize("data, filename, message", [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg",
     "Logo: only PNG or JPEG images (SVG is not accepted)"),
    (b"GIF89a" + b"\x00" * 100, "logo.png", "Logo: only PNG or JPEG images"),
    (image(size=(2000, 100)), "wide.png", "Logo: at most 1024×1024 pixels (this image is 2000×100)"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "broken.png", "Logo: only PNG or JPEG images"),
    (image("JPEG") + b"\x00" * (201 * 1024), "big.jpg", "Logo: at most 200 KB"),
])
def test_a_bad_logo_is_refused_next_to_the_field_and_nothing_changes(acme_admin, orgs, services, data, filename,
                                                                    message):
    before = snapshot(services, orgs["acme"].id)
    reply = upload(acme_admin, data, filename)
    text = reply.get_data(as_text=True)
    assert reply.status_code == 400
    assert re.search(r'<p class="field-error" id="logo-error">' + re.escape(message), text), text[-3000:]
    assert 'id="logo" name="logo" type="file"' in text and 'aria-invalid="true"' in text
    with services.database.session() as db:
        assert db.get(OrganisationBranding, orgs["acme"].id) is None
    assert snapshot(services, orgs["acme"].id) == before


@pytest.mark.parametrize("colour, message", [
    ("red", "Accent colour: give a colour as #rrggbb"),
    ("#12345", "Accent colour: give a colour as #rrggbb"),
    ("#fff;}body{x", "Accent colour: give a colour as #rrggbb"),
    ("#ffff00", "Accent colour: too light for white text"),
])
def test_a_bad_colour_is_refused(acme_admin, orgs, services, colour, message):
    token = csrf_token(acme_admin, "/admin/settings/branding")
    reply = post(acme_admin, "/admin/settings/branding", {"display_name": "X", "accent_colour": colour}, token)
    assert reply.status_code == 400 and message in reply.get_data(as_text=True)
    with services.database.session() as db:
        assert db.get(OrganisationBranding, orgs["acme"].id) is None


def test_a_jpeg_is_stored_as_png_without_its_metadata(acme_admin, orgs, services):
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "#123456").save(out, format="JPEG", comment=b"secret camera data")
    assert upload(acme_admin, out.getvalue(), "photo.jpg").status_code == 302
    with services.database.session() as db:
        png = db.get(OrganisationBranding, orgs["acme"].id).logo_png
    assert png.startswith(b"\x89PNG") and b"secret camera data" not in png


def test_branding_needs_the_security_settings_permission(browser, orgs, services, frozen_clock, factory):
    factory.user("helpdesk@acme.example.com", org="acme", name="Help Desk")
    from idp.models import User, UserPermission
    from tests.admin.helpers import add_totp
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == "helpdesk@acme.example.com"))
        user.permissions = [UserPermission(name="user_management")]
        add_totp(db, services, user)
    sign_in(browser, "helpdesk@acme.example.com", services=services, frozen=frozen_clock)
    assert browser.open("/admin/settings/branding").status == 403
    token = csrf_token(browser, "/admin/users")
    assert post(browser, "/admin/settings/branding", {"display_name": "Pwned"}, token).status_code == 403


def test_sign_in_pages_use_the_branding_only_once_the_organisation_is_known(acme_admin, orgs, services,
                                                                          admin_browser, frozen_clock):
    upload(acme_admin, image())
    person = admin_browser()
    first = person.open("/account/security")            # not signed in: the email + password page
    assert 'name="password"' in first.text
    assert "Acme Field Service" not in first.text and "/branding/acme/" not in first.text
    second = person.sign_in(first, orgs["acme"].admin, "correct horse battery staple")
    assert 'name="code"' in second.text                  # the authenticator app: the organisation is known now
    assert "/branding/acme/theme.css" in second.text and "Acme Field Service" in second.text
    assert f'<span class="account-email">{orgs["acme"].admin}</span>' in second.text


def test_account_pages_always_show_the_organisations_branding(acme_admin, orgs):
    upload(acme_admin, image())
    page = acme_admin.open("/account/security")
    assert "/branding/acme/theme.css" in page.text and "/branding/acme/logo.png" in page.text


def test_branding_assets_of_an_unknown_organisation_are_not_found(client):
    assert client.get("/branding/nobody/logo.png").status_code == 404
    assert client.get("/branding/nobody/theme.css").status_code == 404


def test_sign_in_pages_say_which_application_and_which_account(client, browser, factory, orgs, config):
    from tests.support.oidc_client import Rp
    rp = Rp(client, browser, factory.client(), config.issuer)
    params, _ = rp.params()
    first = rp.open_authorize(params)
    context = re.search(r'<p class="signin-context" id="signin-context">(.*?)</p>', first.text, re.S).group(1)
    assert "to continue to <strong>Test app</strong>" in context and "account-email" not in context
    second = browser.sign_in(first, orgs["acme"].admin, "correct horse battery staple")
    context = re.search(r'<p class="signin-context" id="signin-context">(.*?)</p>', second.text, re.S).group(1)
    assert f'<span class="account-email">{orgs["acme"].admin}</span>' in context
    assert "to continue to <strong>Test app</strong>" in context


# --- invitation: one password rule, shown before typing -------------------------------------------------------

def test_the_invitation_page_shows_the_rule_that_will_be_applied(acme_admin, admin_browser, mailbox, services):
    acme_admin.submit(acme_admin.open("/admin/users/new"), "email", {"email": "new@acme.example.com"})
    link = re.search(r"http://localhost(/invitation/\S+)", mailbox.to("new@acme.example.com")[-1].body).group(1)
    person = admin_browser()
    page = person.open(link)
    minimum = services.config.passwords.min_length_single_factor
    assert f'minlength="{minimum}"' in page.text and f"At least {minimum} characters" in page.text
    assert f"At least {services.config.passwords.min_length} characters." not in page.text
    refused = person.submit(page, "password", {"password": "short pass", "confirm": "short pass"})
    assert refused.status == 400
    assert re.search(r'<p class="field-error" role="alert" id="password-error">Use at least ' + str(minimum), refused.text)


# --- the root URL and signing out ---------------------------------------------------------------------------

def test_the_root_url_says_what_this_server_is_or_goes_to_the_account(admin_browser, acme_admin):
    anonymous = admin_browser().open("/")
    assert anonymous.status == 200 and "sign-in service" in anonymous.text and 'name="password"' not in anonymous.text
    assert acme_admin.open("/").url.endswith("/account/security")


def test_signed_out_page_offers_the_way_back_to_the_application(acme_admin, factory):
    registered = factory.client(logout_uris=("http://127.0.0.1:9000/bye",))
    token = csrf_token(acme_admin, "/account/security")
    reply = post(acme_admin, f"/logout?client_id={registered.client_id}", {"confirm": "yes"}, token)
    text = reply.get_data(as_text=True)
    assert reply.status_code == 200 and "You are signed out" in text
    assert '<a class="button primary" href="http://127.0.0.1:9000/bye" id="back-to-app">Return to Test app</a>' in text
    assert "You can close this window" not in text


def test_signed_out_without_an_application_offers_to_sign_in_again(acme_admin, orgs, services):
    token = csrf_token(acme_admin, "/account/security")
    text = post(acme_admin, "/logout", {"confirm": "yes"}, token).get_data(as_text=True)
    assert "You are signed out" in text and 'href="/account/security">Sign in again</a>' in text
    with services.database.session() as db:
        assert db.get(Organisation, orgs["acme"].id) is not None
