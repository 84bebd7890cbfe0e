"""Operator admin accounts: staff users whose every admin session needs a second factor."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

BACKUP_CODES = 5


class AdminUserExists(Exception):
    """The username is taken and re-keying was not asked for."""


@dataclass(frozen=True)
class AdminAccount:
    username: str
    provisioning_uri: str
    backup_codes: list[str]


@transaction.atomic
def admin_user_create(*, username: str, email: str, password: str, reset: bool) -> AdminAccount:
    """Create a superuser with a confirmed TOTP device and single-use backup codes.

    Refuses an existing username unless `reset`, which replaces password and devices.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is not None and not reset:
        raise AdminUserExists(username)
    if user is None:
        user = user_model.objects.create_superuser(
            username=username, email=email, password=password
        )
    else:
        user.set_password(password)
        user.is_staff = user.is_superuser = user.is_active = True
        user.save()
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    totp = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    static = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=code) for code in codes)
    return AdminAccount(username=username, provisioning_uri=totp.config_url, backup_codes=codes)
