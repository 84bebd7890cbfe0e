"""API key authentication: `Authorization: Api-Key ep_<prefix>_<secret>`."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from partners.models import APIKey
from partners.selectors import api_key_get_active
from partners.services import api_key_touch

KEYWORD = b"api-key"


class APIKeyAuthentication(BaseAuthentication):
    """Authenticates a partner's key; `request.auth` is the `APIKey`, the user is anonymous."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, APIKey] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid API key header.")
        try:
            raw_key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        api_key = api_key_get_active(raw_key=raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        api_key_touch(api_key=api_key)
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return "Api-Key"
