"""System checks that keep development secrets out of real deployments."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register("security", deploy=False)
def dev_secrets_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The committed development keys may only protect a devnet under DEBUG."""
    errors: list[CheckMessage] = []
    devnet_debug = settings.DEBUG and settings.TRON_NETWORK == "devnet"
    if devnet_debug:
        return errors
    if settings.DEV_KEY_ENCRYPTION_KEY in settings.KEY_ENCRYPTION_KEYS:
        errors.append(
            Error(
                "KEY_ENCRYPTION_KEYS contains the committed development key.",
                hint="Generate a Fernet key; private keys encrypted with the dev key are public.",
                id="common.E001",
            )
        )
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        errors.append(Error("SECRET_KEY is the committed development key.", id="common.E002"))
    return errors
