"""Create (or re-key) an operator admin: a staff superuser with a TOTP device and backup codes."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from partners.admin_users import AdminUserExists, admin_user_create


class Command(BaseCommand):
    help = "Create a staff user with a TOTP device; prints its provisioning URI and backup codes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Defaults to a random one, printed once.")
        parser.add_argument(
            "--reset-device",
            action="store_true",
            help="If the user exists, replace its devices and password.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or secrets.token_urlsafe(12)
        try:
            created = admin_user_create(
                username=options["username"],
                email=options["email"],
                password=password,
                reset=options["reset_device"],
            )
        except AdminUserExists as exc:
            raise CommandError(f"user {exc} exists; pass --reset-device to re-key it") from None
        self.stdout.write(f"admin user:       {created.username}")
        self.stdout.write(f"password:         {password}")
        self.stdout.write(f"TOTP URI:         {created.provisioning_uri}")
        self.stdout.write(f"backup codes:     {' '.join(created.backup_codes)}")
        self.stdout.write("Add the URI to an authenticator app; each backup code works once.")
