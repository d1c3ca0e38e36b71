"""The stored authorization request, as authlib's OAuth2Request: resumed after the sign-in (RFC 6749 §4.1.1).

The login transaction keeps the validated request's parameters (one value each); authlib's
AuthorizationServer validates it again and creates the authorization response from this object, with
no fake WSGI request in between (authlib `AuthorizationServer.create_authorization_response(request=...)`
accepts an OAuth2Request as it is)."""
from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload


class StoredAuthorizationRequest(OAuth2Request):
    """A GET to the authorization endpoint with `params` as its query (no body, no headers)."""

    def __init__(self, issuer: str, params: Mapping[str, str]) -> None:
        self.params = {str(k): str(v) for k, v in params.items()}
        super().__init__("GET", f"{issuer}/authorize?{urlencode(self.params)}")
        self.payload = BasicOAuth2Payload(self.params)

    @property
    def args(self) -> dict[str, str]:
        return self.params

    @property
    def form(self) -> dict[str, str]:
        return {}


def without_prompt(params: Mapping[str, str]) -> dict[str, str]:
    """The request once the person was asked (consent given): `prompt` has been honoured."""
    return {k: v for k, v in params.items() if k != "prompt"}
