"""Linking a partner's TRON wallet by a signed one-time challenge (TronLink `signMessageV2`).

Protocol:

1. `wallet_challenge_issue` stores a `WalletChallenge` for one partner and one address: a
   message naming both, with 128 random bits (`nonce`) and an expiry
   (`WALLET_CHALLENGE_SECONDS`). Nothing else changes.
2. The owner signs the message in TronLink (TIP-191, `pools/chain/messages.py`).
3. `wallet_verify` checks, without writing, that the challenge is the partner's, unused
   and unexpired, that it was issued for the address claimed, and that the signature over
   its message recovers that address. Then, in one transaction, it consumes the challenge
   with a compare-and-set (`used_at` NULL and not expired → now; exactly one caller wins,
   whatever the concurrency) and records the `PartnerWallet` as verified, with the message
   and signature that prove it. A refused attempt leaves the challenge as it was, so a
   wrong signature does not cost the owner a new challenge; a verified one can never be
   used again.
4. `wallet_add_pool` makes a verified wallet a watch-only pool through the onboarding
   service (`pools/services/onboarding.py`), with its on-chain existence check.

Every refusal is a `ValidationError` whose keys are the input fields (`challenge`,
`address`, `signature`, `non_field_errors`) and whose messages are the constants below, so
the API answers 400 with field errors and the page shows them translated.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from common.tron import tron_address_to_hex
from partners.models import Partner, PartnerWallet, WalletChallenge
from pools.chain.messages import SignatureInvalid, message_signer
from pools.models import EnergyPool
from pools.services.onboarding import pool_onboard, pool_onboard_check

NON_FIELD = "non_field_errors"
# A client that asks for challenges and never signs them cannot grow the table without end.
MAX_OPEN_CHALLENGES = 20

CHALLENGE_UNKNOWN = "No such challenge; ask for a new one."
CHALLENGE_EXPIRED = "The challenge has expired; ask for a new one."
CHALLENGE_USED = "This challenge was already used; ask for a new one."
TOO_MANY_CHALLENGES = "Too many open challenges; sign one or wait a few minutes."
ADDRESS_NOT_CHALLENGED = "This challenge was issued for another address."
SIGNATURE_MALFORMED = "Not a signature: expected 65 bytes as 130 hex digits."
SIGNATURE_MISMATCH = "The signature was not made by this address over this challenge's message."
WALLET_NOT_VERIFIED = "Verify the wallet before adding it as a pool."


def challenge_message(*, partner: Partner, address: str, nonce: str, expires_at: datetime) -> str:
    """The text the owner signs. It names the partner, the address, the nonce and the expiry
    so that a signature proves exactly this link and nothing else. Never translated: the
    signature binds these exact bytes."""
    expires = expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"Energy Platform: link this wallet to {partner.name}.\n"
        f"Partner: {partner.slug}\n"
        f"Address: {address}\n"
        f"Nonce: {nonce}\n"
        f"Expires: {expires}\n"
        "Signing proves you control this wallet. It moves no funds."
    )


def wallet_challenge_issue(
    *, partner: Partner, address: str, requested_by_id: int | None = None
) -> WalletChallenge:
    """A new challenge for `partner` to prove control of `address`.

    Deletes the partner's expired challenges (they can only be refused). Raises
    `ValidationError` for an address that is not a TRON address, or when the partner already
    has `MAX_OPEN_CHALLENGES` open ones.
    """
    try:
        tron_address_to_hex(address)
    except ValidationError as exc:
        raise ValidationError({"address": exc.messages}) from None
    now = timezone.now()
    with transaction.atomic():
        WalletChallenge.objects.filter(partner=partner, expires_at__lte=now).delete()
        open_challenges = WalletChallenge.objects.filter(
            partner=partner, used_at__isnull=True, expires_at__gt=now
        ).count()
        if open_challenges >= MAX_OPEN_CHALLENGES:
            raise ValidationError({NON_FIELD: [TOO_MANY_CHALLENGES]})
        nonce = secrets.token_hex(16)
        expires_at = now + timedelta(seconds=settings.WALLET_CHALLENGE_SECONDS)
        return WalletChallenge.objects.create(
            partner=partner,
            address=address,
            nonce=nonce,
            message=challenge_message(
                partner=partner, address=address, nonce=nonce, expires_at=expires_at
            ),
            requested_by_id=requested_by_id,
            expires_at=expires_at,
        )


def _refusal_for(challenge: WalletChallenge, now: datetime) -> ValidationError | None:
    if challenge.used_at is not None:
        return ValidationError({"challenge": [CHALLENGE_USED]})
    if challenge.expires_at <= now:
        return ValidationError({"challenge": [CHALLENGE_EXPIRED]})
    return None


def wallet_verify(
    *, partner: Partner, nonce: str, address: str, signature_hex: str, label: str = ""
) -> PartnerWallet:
    """Record `address` as `partner`'s verified wallet if `signature_hex` is its TIP-191
    signature of challenge `nonce`'s message.

    Consumes the challenge (compare-and-set on `used_at`) in the transaction that records
    the wallet; a wallet already recorded is re-verified (new message, signature and time;
    `label` replaces its label only when given). Raises `ValidationError` with field errors,
    leaving everything unchanged, for another partner's or an unknown challenge, a used or
    expired one, another address, or a signature that is malformed or not that address's
    over that message.
    """
    challenge = WalletChallenge.objects.filter(partner=partner, nonce=nonce).first()
    if challenge is None:
        raise ValidationError({"challenge": [CHALLENGE_UNKNOWN]})
    now = timezone.now()
    refusal = _refusal_for(challenge, now)
    if refusal is not None:
        raise refusal
    if address != challenge.address:
        raise ValidationError({"address": [ADDRESS_NOT_CHALLENGED]})
    try:
        signer = message_signer(message=challenge.message, signature_hex=signature_hex)
    except SignatureInvalid:
        raise ValidationError({"signature": [SIGNATURE_MALFORMED]}) from None
    if signer != challenge.address:
        raise ValidationError({"signature": [SIGNATURE_MISMATCH]})
    with transaction.atomic():
        consumed = WalletChallenge.objects.filter(
            pk=challenge.pk, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now, updated_at=now)
        if consumed != 1:
            challenge.refresh_from_db()
            raise _refusal_for(challenge, now) or ValidationError({"challenge": [CHALLENGE_USED]})
        proof = {
            "verification_message": challenge.message,
            "signature": signature_hex.removeprefix("0x").lower(),
            "verified_at": now,
        }
        if label:
            proof["label"] = label
        wallet, _ = PartnerWallet.objects.update_or_create(
            partner=partner, address=challenge.address, defaults=proof
        )
    return wallet


def wallet_add_pool(*, wallet: PartnerWallet, label: str = "") -> EnergyPool:
    """Add a verified wallet as a watch-only energy pool of its partner, synced once.

    Raises `ValidationError` if the wallet is not verified, or as `pool_onboard_check` does
    (the account must exist on chain and not be a pool yet); `ChainUnavailable` if no node
    answers.
    """
    if wallet.verified_at is None:
        raise ValidationError({NON_FIELD: [WALLET_NOT_VERIFIED]})
    plan = pool_onboard_check(address=wallet.address)
    return pool_onboard(partner=wallet.partner, plan=plan, label=label or wallet.label)
