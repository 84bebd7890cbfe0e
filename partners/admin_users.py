"""Operator admin accounts: staff users whose every admin session needs a second factor."""

from __future__ import annotations

import secrets
from base64 import b32encode
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from partners.models import BackupCode, BackupCodeDevice, backup_code_digest

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
        StaticDevice.objects.filter(user=user).delete()  # plaintext codes of old releases
        BackupCodeDevice.objects.filter(user=user).delete()
    totp = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    codes = backup_codes_issue(user=user)
    return AdminAccount(username=username, provisioning_uri=totp.config_url, backup_codes=codes)


def _new_backup_code() -> str:
    """80 random bits as 16 base32 characters, grouped in fours for reading aloud."""
    raw = b32encode(secrets.token_bytes(10)).decode().lower()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def backup_codes_issue(*, user: AbstractBaseUser) -> list[str]:
    """Replace `user`'s backup codes with `BACKUP_CODES` new ones and return them: the only
    time they exist in plain text. Only their hashes are stored."""
    BackupCodeDevice.objects.filter(user=user).delete()
    device = BackupCodeDevice.objects.create(user=user, name="backup codes", confirmed=True)
    codes = [_new_backup_code() for _ in range(BACKUP_CODES)]
    BackupCode.objects.bulk_create(
        BackupCode(device=device, code_hash=backup_code_digest(code)) for code in codes
    )
    return codes
