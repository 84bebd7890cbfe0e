"""Re-encrypt stored private keys under the first of KEY_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from pools.services import signing_keys_rotate


class Command(BaseCommand):
    help = "Re-encrypt every signing key with the current (first) key-encryption key."

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = signing_keys_rotate()
        self.stdout.write(f"re-encrypted {rotated} key(s)")
