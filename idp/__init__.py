"""Fentu IdP: an OpenID Connect identity provider."""
