"""Move django-otp's plaintext static tokens into hashed backup codes, and delete them.

Earlier releases stored admin backup codes as `otp_static.StaticToken` rows in plain text;
after this migration only their SHA-256 digests exist (`partners.BackupCode`).
"""

import hashlib

from django.db import migrations


def _digest(code: str) -> str:
    # The same normalisation as partners.models.backup_code_digest (frozen here).
    normalised = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


def hash_static_tokens(apps, schema_editor):  # type: ignore[no-untyped-def]
    StaticDevice = apps.get_model("otp_static", "StaticDevice")
    BackupCodeDevice = apps.get_model("partners", "BackupCodeDevice")
    BackupCode = apps.get_model("partners", "BackupCode")
    for static in StaticDevice.objects.all():
        device = BackupCodeDevice.objects.create(
            user_id=static.user_id, name=static.name, confirmed=static.confirmed
        )
        BackupCode.objects.bulk_create(
            [
                BackupCode(device=device, code_hash=digest)
                for digest in {_digest(t.token) for t in static.token_set.all()}
            ]
        )
        static.delete()  # its tokens go with it (CASCADE)


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0002_backup_codes"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [
        # Irreversible by design: the plaintext codes are gone.
        migrations.RunPython(hash_static_tokens, migrations.RunPython.noop),
    ]
