"""The operators' console: second factor, lockout, every changelist at constant query cost."""

import importlib
import re
from decimal import Decimal
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from alerts.tests.factories import AlertDeliveryFactory, EnergyAlertFactory
from operations.tests.factories import JobLockFactory, JobRunFactory
from partners.models import BackupCode, BackupCodeDevice, backup_code_digest
from partners.tests.factories import (
    APIKeyFactory,
    CustomerFactory,
    MembershipFactory,
    PartnerWalletFactory,
    UserFactory,
)
from pools.tests.factories import (
    EnergyPoolFactory,
    EnergyUsageLogFactory,
    PoolSnapshotFactory,
    PriceQuoteFactory,
    ReservationFactory,
)
from predictions.tests.factories import EnergyPredictionFactory
from withdrawals.tests.factories import (
    AttemptFactory,
    BalanceFactory,
    CreditFactory,
    EmergencyFeeFactory,
    HoldFactory,
    QueueEntryFactory,
    WithdrawalFactory,
)
from withdrawals.tests.test_pages import token_in

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-admin-pass"
LOGIN = "/admin/login/"


@pytest.fixture
def admin_user():
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user, device


def current_token(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def verified_client(user, device) -> Client:
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def test_admin_asks_for_second_factor(admin_user):
    client = Client()
    assert client.get("/admin/").status_code == 302
    page = client.get(LOGIN).content.decode()
    assert 'name="otp_token"' in page
    response = client.post(LOGIN, {"username": "root", "password": PASSWORD})
    assert response.status_code == 200  # form shown again: no token, no entry
    assert client.get("/admin/").status_code == 302


def test_password_and_totp_let_the_admin_in(admin_user):
    _, device = admin_user
    client = Client()
    response = client.post(
        LOGIN,
        {
            "username": "root",
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": current_token(device),
            "next": "/admin/",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert client.get("/admin/").status_code == 200


def test_staff_logged_in_without_second_factor_is_not_admitted(admin_user):
    user, _ = admin_user
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 302


def test_repeated_failures_lock_the_account_out(admin_user, settings):
    _, device = admin_user
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "root", "password": "wrong", "otp_token": "000000"})
    response = client.post(
        LOGIN,
        {
            "username": "root",
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": current_token(device),
        },
    )
    assert response.status_code == 429
    assert client.get("/admin/").status_code == 302


def test_create_admin_prints_provisioning_uri_and_backup_codes():
    out = StringIO()
    call_command("create_admin", "ops", "--password", "pw-123-xyz", stdout=out)
    text = out.getvalue()
    device = TOTPDevice.objects.get(user__username="ops")
    assert device.confirmed
    assert device.config_url in text
    assert text.count("otpauth://totp/") == 1
    codes = re.findall(r"\b[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}\b", text)
    assert len(set(codes)) == 5
    stored = set(
        BackupCode.objects.filter(device__user__username="ops").values_list("code_hash", flat=True)
    )
    assert stored == {backup_code_digest(code) for code in codes}  # hashes, never the codes
    assert not StaticToken.objects.exists()


def _admin_login(client: Client, device_id: str, token: str) -> int:
    return client.post(
        LOGIN,
        {
            "username": "ops",
            "password": "pw-123-xyz",
            "otp_device": device_id,
            "otp_token": token,
            "next": "/admin/",
        },
    ).status_code


def test_a_backup_code_lets_an_operator_in_once():
    out = StringIO()
    call_command("create_admin", "ops", "--password", "pw-123-xyz", stdout=out)
    code = re.findall(r"\b[a-z2-7]{4}(?:-[a-z2-7]{4}){3}\b", out.getvalue())[0]
    device = BackupCodeDevice.objects.get(user__username="ops")
    client = Client()
    assert _admin_login(client, device.persistent_id, code.upper()) == 302  # as typed
    assert client.get("/admin/").status_code == 200
    client.logout()
    assert _admin_login(client, device.persistent_id, code) == 200  # used up: refused
    assert client.get("/admin/").status_code == 302
    assert BackupCode.objects.filter(device=device).count() == 4


def test_nobody_reads_another_persons_second_factor_in_the_admin(admin_user):
    """Staff, superusers included, see that a device exists and may delete it (a lost
    phone), never its TOTP key, its QR code or any backup code."""
    call_command("create_admin", "ops", stdout=StringIO())
    totp = TOTPDevice.objects.get(user__username="ops")
    backup = BackupCodeDevice.objects.get(user__username="ops")
    client = verified_client(*admin_user)
    secrets_ = [totp.key, *BackupCode.objects.values_list("code_hash", flat=True)]
    for url in (
        "/admin/otp_totp/totpdevice/",
        f"/admin/otp_totp/totpdevice/{totp.pk}/change/",
        "/admin/partners/backupcodedevice/",
        f"/admin/partners/backupcodedevice/{backup.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert not any(secret in page for secret in secrets_), url
    assert "ops" in client.get("/admin/otp_totp/totpdevice/").content.decode()
    for url in (  # django-otp's key and QR pages are gone (the admin's fallback redirect)
        f"/admin/otp_totp/totpdevice/{totp.pk}/config/",
        f"/admin/otp_totp/totpdevice/{totp.pk}/qrcode/",
    ):
        response = client.get(url, follow=True)
        assert response["Content-Type"].startswith("text/html"), url
        page = response.content.decode()
        assert "otpauth://" not in page, url
        assert totp.key not in page, url
    assert client.get("/admin/otp_static/staticdevice/").status_code == 404
    assert client.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    response = client.post(f"/admin/otp_totp/totpdevice/{totp.pk}/change/", {"name": "x"})
    assert response.status_code == 403
    assert (
        client.post(f"/admin/otp_totp/totpdevice/{totp.pk}/delete/", {"post": "yes"}).status_code
        == 302
    )
    assert not TOTPDevice.objects.filter(pk=totp.pk).exists()


def test_old_plaintext_static_tokens_are_migrated_to_hashes():
    migration = importlib.import_module("partners.migrations.0003_backup_codes_from_static_tokens")
    user = UserFactory(username="old-ops", is_staff=True)
    static = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
    StaticToken.objects.create(device=static, token="abcd2345")
    migration.hash_static_tokens(django_apps, None)
    assert not StaticDevice.objects.exists()
    assert not StaticToken.objects.exists()
    device = BackupCodeDevice.objects.get(user=user)
    assert list(device.codes.values_list("code_hash", flat=True)) == [
        backup_code_digest("abcd2345")
    ]
    assert device.verify_token("ABCD2345")
    assert not device.verify_token("abcd2345")  # single use


def test_create_admin_refuses_existing_user_without_reset():
    call_command("create_admin", "ops", stdout=StringIO())
    with pytest.raises(Exception, match="exists"):
        call_command("create_admin", "ops", stdout=StringIO())
    call_command("create_admin", "ops", "--reset-device", stdout=StringIO())
    assert TOTPDevice.objects.filter(user__username="ops").count() == 1


def _make_rows(n: int) -> None:
    for _ in range(n):
        pool = EnergyPoolFactory()
        EnergyUsageLogFactory(pool=pool)
        PoolSnapshotFactory(pool=pool)
        reservation = ReservationFactory(pool=pool)
        AttemptFactory(withdrawal=reservation.withdrawal)
        QueueEntryFactory(withdrawal__partner=pool.partner)
        EmergencyFeeFactory()
        HoldFactory()
        BalanceFactory(currency="TRX")
        delivery = AlertDeliveryFactory(alert=EnergyAlertFactory(pool=pool))
        assert delivery.pk
        EnergyPredictionFactory(pool=pool)
        PriceQuoteFactory()
        MembershipFactory()
        APIKeyFactory()
        PartnerWalletFactory()
        CustomerFactory()
        JobRunFactory()
        JobLockFactory()
        CreditFactory()


def _changelist_queries(client) -> dict[str, int]:
    counts = {}
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, url
        counts[url] = len(ctx.captured_queries)
    return counts


def test_every_changelist_costs_the_same_with_more_rows(admin_user):
    client = verified_client(*admin_user)
    _make_rows(2)
    few = _changelist_queries(client)
    _make_rows(6)
    many = _changelist_queries(client)
    assert few == many
    assert len(few) >= 20


def test_pool_changelist_shows_computed_columns(admin_user):
    pool = EnergyPoolFactory(energy_limit=1_000_000, energy_used=300_000, reserved_energy=200_000)
    EnergyUsageLogFactory(pool=pool, energy_used=14_000_000)  # 2M a day: more than it regrows
    client = verified_client(*admin_user)
    page = client.get("/admin/pools/energypool/").content.decode()
    assert "500000" in page  # available
    assert "50.00" in page  # usage %
    assert "0.4" in page  # days left: ln((2M - 0.5M) / (2M - 1M))


def test_admin_adds_pool_through_onboarding(admin_user, devnet):
    from tronpy.keys import PrivateKey

    from partners.tests.factories import PartnerFactory
    from pools.models import EnergyPool, SigningKey

    client = verified_client(*admin_user)
    partner = PartnerFactory()
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    url = "/admin/pools/energypool/add/"
    page = client.post(url, {"partner": partner.pk, "address": address, "label": "x"})
    assert page.status_code == 200  # not on chain yet: the form shows the error
    assert "must be an activated TRON account" in page.content.decode()
    assert not EnergyPool.objects.exists()
    devnet.fund(address, 10)
    response = client.post(url, {"partner": partner.pk, "label": "x", "private_key": key.hex()})
    assert response.status_code == 302, response.content.decode()[:3000]
    pool = EnergyPool.objects.get(address=address)
    assert (pool.custody, pool.trx_balance_sun, pool.label) == ("custodial", 10_000_000, "x")
    assert SigningKey.objects.filter(address=address).exists()
    change_page = client.get(f"/admin/pools/energypool/{pool.pk}/change/").content.decode()
    assert key.hex() not in change_page


def test_admin_pause_action(admin_user):
    pool = EnergyPoolFactory()
    client = verified_client(*admin_user)
    client.post("/admin/pools/energypool/", {"action": "pause", "_selected_action": [pool.pk]})
    pool.refresh_from_db()
    assert pool.status == "paused"


def test_admin_submits_a_staking_operation(admin_user, devnet):
    """The submit page validates the form, then calls the staking service outside any
    transaction (the service refuses to run inside one: it commits before it broadcasts)."""
    from django.contrib.admin.models import LogEntry

    from pools.models import EnergyPool, SigningKey, StakingOperation
    from pools.services.keys import signing_key_generate

    key = signing_key_generate()
    devnet.fund(key.address, 5_000)
    pool = EnergyPoolFactory(address=key.address, custody=EnergyPool.Custody.CUSTODIAL)
    client = verified_client(*admin_user)
    url = "/admin/pools/stakingoperation/submit/"
    added = client.get("/admin/pools/stakingoperation/add/")  # the "Add" button leads here
    assert (added.status_code, added["Location"]) == (302, url)
    page = client.get(url)
    assert page.status_code == 200
    token = token_in(page)
    form = {"pool": pool.pk, "kind": "stake", "lock_period_blocks": 0, "token": token}
    bad = client.post(url, form)  # no amount: the service refuses, nothing is recorded
    assert bad.status_code == 200
    assert "At least 1 TRX" in bad.content.decode()
    mistyped = client.post(url, {**form, "amount_trx": "lots", "kind": "gift"})
    assert mistyped.status_code == 200
    assert StakingOperation.objects.count() == 0
    for _ in range(2):  # a double submit sends once
        response = client.post(url, {**form, "amount_trx": "1000"})
        assert response.status_code == 302, response.content.decode()[:2000]
    op = StakingOperation.objects.get()
    assert response["Location"] == f"/admin/pools/stakingoperation/{op.pk}/change/"
    assert (op.kind, op.amount_sun, op.state) == ("stake", 1_000_000_000, "broadcast")
    assert op.requested_by_id == admin_user[0].pk
    assert LogEntry.objects.filter(object_id=str(op.pk)).count() == 1
    reused = client.post(url, {**form, "amount_trx": "5"})  # the form's key, another amount
    assert reused.status_code == 200
    assert StakingOperation.objects.count() == 1
    shown = client.get(response["Location"])
    assert shown.status_code == 200  # read-only: operations change only through the service
    assert client.post(response["Location"], {"state": "dead"}).status_code == 403
    assert SigningKey.objects.count() == 1
    assert client.post(f"/admin/pools/signingkey/{key.pk}/delete/").status_code == 403


def test_the_staking_submit_page_is_for_verified_staff_only(admin_user):
    user, _ = admin_user
    client = Client()
    client.force_login(user)  # a password, no second factor
    response = client.post("/admin/pools/stakingoperation/submit/", {"kind": "stake"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_cancels_a_reserved_withdrawal(admin_user):
    from withdrawals.models import Withdrawal

    withdrawal = WithdrawalFactory(status="reserved")
    signed = WithdrawalFactory(status="broadcast")
    client = verified_client(*admin_user)
    client.post(
        "/admin/withdrawals/withdrawal/",
        {"action": "cancel", "_selected_action": [withdrawal.pk, signed.pk]},
    )
    statuses = dict(Withdrawal.objects.values_list("pk", "status"))
    assert statuses == {withdrawal.pk: "cancelled", signed.pk: "broadcast"}


def test_admin_retry_refuses_what_did_not_fail(admin_user):
    withdrawal = WithdrawalFactory(status="confirmed")
    client = verified_client(*admin_user)
    response = client.post(
        "/admin/withdrawals/withdrawal/",
        {"action": "retry", "_selected_action": [withdrawal.pk]},
        follow=True,
    )
    assert "not retried" in response.content.decode()
    from withdrawals.models import Withdrawal

    assert Withdrawal.objects.count() == 1


def test_money_records_are_shown_but_never_edited_or_deleted(admin_user):
    """An amount or address edited by hand would be sent against a hold for another; an
    attempt marked dead, or a hold or queue entry deleted, would strand the funds."""
    from withdrawals.models import Hold, QueueEntry, Withdrawal

    withdrawal = WithdrawalFactory(status="reserved", amount=Decimal("10"))
    attempt = AttemptFactory()
    hold = HoldFactory()
    entry = QueueEntryFactory()
    client = verified_client(*admin_user)
    page = client.get(f"/admin/withdrawals/withdrawal/{withdrawal.pk}/change/")
    assert page.status_code == 200  # shown, read-only
    edited = client.post(
        f"/admin/withdrawals/withdrawal/{withdrawal.pk}/change/",
        {"amount": "5000", "to_address": withdrawal.to_address},
    )
    assert edited.status_code == 403
    withdrawal.refresh_from_db()
    assert withdrawal.amount == Decimal("10")
    for model, row in (("attempt", attempt), ("hold", hold), ("queueentry", entry)):
        url = f"/admin/withdrawals/{model}/{row.pk}/"
        assert client.post(f"{url}change/", {"state": "dead"}).status_code == 403
        assert client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    for model in ("withdrawal", "attempt", "hold", "queueentry", "balance", "emergencyfee"):
        assert client.get(f"/admin/withdrawals/{model}/add/").status_code == 403
    attempt.refresh_from_db()
    assert attempt.state == "signed"
    assert Hold.objects.filter(pk=hold.pk).exists()
    assert QueueEntry.objects.filter(pk=entry.pk).exists()
    assert Withdrawal.objects.filter(pk=withdrawal.pk).exists()


def test_admin_credits_a_customer_once_per_form(admin_user):
    from withdrawals.models import Balance, Credit

    customer = CustomerFactory()
    client = verified_client(*admin_user)
    token = token_in(client.get("/admin/withdrawals/credit/add/"))
    form = {"customer": customer.pk, "currency": "USDT", "amount": "25", "token": token}
    for _ in range(2):  # a double submit
        response = client.post("/admin/withdrawals/credit/add/", form)
        assert response.status_code == 302, response.content.decode()[:3000]
    assert Credit.objects.filter(customer=customer).count() == 1
    assert Balance.objects.get(customer=customer, currency="USDT").available == Decimal("25")
    from django.contrib.admin.models import LogEntry

    credit = Credit.objects.get()
    assert LogEntry.objects.filter(object_id=str(credit.pk)).count() == 1  # logged once
    bad = client.post("/admin/withdrawals/credit/add/", {**form, "amount": "0", "token": ""})
    assert bad.status_code == 200
    assert Credit.objects.count() == 1
    credit = Credit.objects.get()
    deleted = client.post(f"/admin/withdrawals/credit/{credit.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 403


def test_admin_retry_with_the_node_down_is_a_message_not_a_500(admin_user, settings):
    from pools.services.keys import signing_key_generate
    from pools.tests.test_chain_client import dead_url
    from withdrawals.models import Withdrawal

    key = signing_key_generate()
    failed = WithdrawalFactory(status="failed")
    EnergyPoolFactory(partner=failed.partner, address=key.address, custody="custodial")
    BalanceFactory(customer=failed.customer, currency="USDT", available=Decimal("100"))
    settings.TRON_NODE_URLS = [dead_url()]  # nothing answers there
    client = verified_client(*admin_user)
    response = client.post(
        "/admin/withdrawals/withdrawal/",
        {"action": "retry", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "not answering" in response.content.decode()
    assert Withdrawal.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_editing_a_pool_keeps_what_changed_meanwhile(admin_user):
    """A reservation taken while the edit is being saved: the save must not write back the
    reserved energy (or chain numbers) it read."""
    import threading

    from django.db import transaction

    from conftest import wait_for_a_blocked_query
    from pools.models import EnergyPool

    pool = EnergyPoolFactory(reserved_energy=0)
    client = verified_client(*admin_user)
    url = f"/admin/pools/energypool/{pool.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}

    def reserve_meanwhile() -> None:
        try:
            with transaction.atomic():
                EnergyPool.objects.filter(pk=pool.pk).update(
                    reserved_energy=65_000, energy_used=1_000
                )
                reserved.set()
                wait_for_a_blocked_query()  # the admin's save waits for this row
        finally:
            connection.close()

    reserved = threading.Event()
    reserver = threading.Thread(target=reserve_meanwhile)
    reserver.start()
    assert reserved.wait(10)
    response = client.post(url, {**data, "label": "renamed"})
    reserver.join()
    assert response.status_code == 302, response.content.decode()[:2000]
    pool.refresh_from_db()
    assert (pool.label, pool.reserved_energy, pool.energy_used) == ("renamed", 65_000, 1_000)


def test_pool_thresholds_the_api_refuses_are_refused_by_the_admin_too(
    admin_user, partner, key_client
):
    """The change form goes through the settings service: thresholds out of the order
    warning ≤ critical ≤ emergency (with the partner's defaults filling the gaps) are a form
    error, and nothing is saved; an ordered change is saved through it."""
    pool = EnergyPoolFactory(partner=partner, label="before")
    client = verified_client(*admin_user)
    url = f"/admin/pools/energypool/{pool.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    above_critical = str(partner.critical_threshold + 1)
    for bad in (
        {"warning_threshold": "90", "critical_threshold": "80"},
        {"warning_threshold": above_critical},  # out of order with the partner's critical
        {"emergency_threshold": str(partner.warning_threshold - 1)},
    ):
        api = key_client.patch(f"/api/v1/pools/{pool.pk}/", bad, format="json")
        assert api.status_code == 400, api.content  # what the API refuses ...
        response = client.post(url, {**data, "label": "after", **bad})  # ... the admin too
        assert response.status_code == 200, bad
        assert "warning ≤ critical ≤ emergency" in response.content.decode()
        pool.refresh_from_db()
        assert (pool.label, pool.warning_threshold, pool.critical_threshold) == (
            "before",
            None,
            None,
        )
        assert pool.emergency_threshold is None
    ordered = {"warning_threshold": "60", "critical_threshold": "70", "emergency_threshold": "80"}
    response = client.post(url, {**data, "label": "after", **ordered})
    assert response.status_code == 302, response.content.decode()[:2000]
    pool.refresh_from_db()
    assert (pool.label, pool.warning_threshold, pool.critical_threshold) == (
        "after",
        Decimal("60"),
        Decimal("70"),
    )
    assert pool.emergency_threshold == Decimal("80")


def test_admin_marks_a_reserve_and_grants_partners_a_draw(admin_user):
    from partners.tests.factories import PartnerFactory
    from pools.models import EnergyPool, EnergyShare, ReserveGrant

    operator, borrower = PartnerFactory(), PartnerFactory()
    client = verified_client(*admin_user)

    def change(pool, **values):
        url = f"/admin/pools/energypool/{pool.pk}/change/"
        form = client.get(url).context["adminform"].form
        data = {name: form[name].value() or "" for name in form.fields}
        return client.post(url, {**data, **values})

    watch = EnergyPoolFactory(partner=operator, custody="watch_only")
    refused = change(watch, is_reserve="on")
    assert refused.status_code == 200
    assert "only a custodial energy pool can be one" in refused.content.decode()
    assert not EnergyPool.objects.get(pk=watch.pk).is_reserve
    reserve = EnergyPoolFactory(partner=operator, custody="custodial")
    assert change(reserve, is_reserve="on").status_code == 302
    reserve.refresh_from_db()
    assert reserve.is_reserve
    assert (
        "reserve grants"
        in client.get(f"/admin/pools/energypool/{reserve.pk}/change/").content.decode().lower()
    )

    url = "/admin/pools/reservegrant/add/"
    own = client.post(url, {"pool": reserve.pk, "partner": operator.pk, "max_energy": 1_000})
    assert own.status_code == 200
    assert "not a grant" in own.content.decode()
    other = EnergyPoolFactory(partner=operator, custody="custodial")
    plain = client.post(url, {"pool": other.pk, "partner": borrower.pk, "max_energy": 1_000})
    assert plain.status_code == 200  # not a reserve: not even a choice
    assert not ReserveGrant.objects.exists()
    made = client.post(url, {"pool": reserve.pk, "partner": borrower.pk, "max_energy": 300_000})
    assert made.status_code == 302, made.content.decode()[:2000]
    grant = ReserveGrant.objects.get()
    assert (grant.pool_id, grant.partner_id, grant.max_energy) == (reserve.pk, borrower.pk, 300_000)
    EnergyShare.objects.create(
        partner=borrower,
        donor=reserve,
        receiver=EnergyPoolFactory(partner=borrower),
        amount_sun=5_000_000,
        energy=47_000,
        state="active",
        reason="reserve loan",
    )
    listing = client.get("/admin/pools/reservegrant/").content.decode()
    assert "300000" in listing
    assert "47000" in listing
    assert grant.history.count() == 1  # audited
