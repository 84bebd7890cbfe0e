"""The dashboards in a real browser (headless Chromium) against daphne, so the live socket is
real: an operator (password and TOTP) and partner staff see the cards and charts, a card's
number follows a commit within a second, the page recovers when its socket is cut, and a
partner's page never hears about another partner's pools."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from partners.tests.factories import TEST_PASSWORD, MembershipFactory, UserFactory
from pools.events import pools_changed
from pools.models import EnergyPool
from pools.services.ledger import reservation_reserve
from pools.tests.factories import EnergyPoolFactory, EnergyUsageLogFactory, PoolSnapshotFactory
from tests.live_server import daphne_server
from tests.test_admin import current_token
from tests.test_browser import browser  # noqa: F401  # the Chromium fixture
from withdrawals.tests.factories import WithdrawalFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def daphne_url(settings):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    with daphne_server() as url:
        yield url


def _pool(partner, **kwargs) -> EnergyPool:
    from django.utils import timezone

    pool = EnergyPoolFactory(
        partner=partner, energy_limit=1_000_000, last_synced_at=timezone.now(), **kwargs
    )
    PoolSnapshotFactory(pool=pool, taken_at=timezone.now() - timedelta(hours=1), energy_used=10)
    EnergyUsageLogFactory(pool=pool, energy_used=500)
    return pool


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


def _wait_live(driver, wait) -> None:
    wait.until(lambda b: b.find_element(By.ID, "live-state").get_attribute("data-state") == "live")


def _charts_drawn(driver) -> bool:
    return bool(
        driver.execute_script(
            "var c = window.epDashboard && window.epDashboard.charts;"
            "return !!(c && c['chart-24h'] && c['chart-30d'] && c['chart-savings'])"
            " && document.querySelectorAll('#heatmap tr').length === 8;"
        )
    )


def _reserve_and_time(driver, pool: EnergyPool, energy: int) -> float:
    """Commit a reservation on `pool`; seconds until its card shows the new available."""
    time.sleep(1.1)  # a fresh coalescing window: the hint leaves at once
    before = pool.available_energy
    withdrawal = WithdrawalFactory(partner=pool.partner)
    reservation_reserve(
        pool_id=pool.pk, withdrawal_id=withdrawal.pk, energy=energy, ttl=timedelta(minutes=5)
    )
    committed = time.monotonic()
    selector = f'[data-pool="{pool.pk}"] [data-field="available_energy"]'
    WebDriverWait(driver, 5, poll_frequency=0.02).until(
        lambda b: _number(b.find_element(By.CSS_SELECTOR, selector).text) == before - energy
    )
    return time.monotonic() - committed


def test_partner_staff_watch_their_pools_live(daphne_url, browser):  # noqa: F811
    membership = MembershipFactory(user__username="ops")
    pool = _pool(membership.partner, label="main pool")
    other_pool = _pool(MembershipFactory().partner, label="someone else's")
    wait = WebDriverWait(browser, 20)

    browser.get(f"{daphne_url}/login/?next=/dashboard/")
    browser.find_element(By.ID, "id_username").send_keys("ops")
    browser.find_element(By.ID, "id_password").send_keys(TEST_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda b: b.current_url == f"{daphne_url}/dashboard/")
    _wait_live(browser, wait)
    assert "main pool" in browser.find_element(By.ID, "pool-cards").text
    assert "someone else's" not in browser.page_source
    wait.until(_charts_drawn)

    assert _reserve_and_time(browser, pool, 1000) < 1.0

    # Another partner's pools change: this page hears nothing of it.
    time.sleep(1.1)
    reservation_reserve(
        pool_id=other_pool.pk,
        withdrawal_id=WithdrawalFactory(partner=other_pool.partner).pk,
        energy=5000,
        ttl=timedelta(minutes=5),
    )
    pools_changed(pool_ids=[other_pool.pk], reason="status")
    time.sleep(1.5)
    heard = browser.execute_script("return window.epDashboard.messages;")
    assert heard  # it did hear its own pool's hint
    for message in heard:
        assert other_pool.pk not in message.get("payload", {}).get("pool_ids", [])

    # The socket is cut: the page says so, reconnects, re-fetches, and follows again.
    fetches = browser.execute_script("return window.epDashboard.fetches;")
    browser.execute_script("window.epDashboard.socket.close();")
    wait.until(
        lambda b: (
            b.execute_script("return window.epDashboard.fetches;") > fetches
            and b.find_element(By.ID, "live-state").get_attribute("data-state") == "live"
        )
    )
    pool.refresh_from_db()
    assert _reserve_and_time(browser, pool, 2000) < 1.0


def _console_login(browser, daphne_url: str, wait) -> None:  # noqa: F811
    """An operator ("root", password and TOTP) signs in to the admin and opens the console."""
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    browser.get(f"{daphne_url}/admin/login/?next=/admin/console/")
    # django-otp's admin login: the password first, then (the user known) the device and
    # its current token.
    browser.find_element(By.ID, "id_username").send_keys("root")
    browser.find_element(By.ID, "id_password").send_keys(TEST_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(lambda b: b.find_elements(By.ID, "id_otp_device"))
    password = browser.find_element(By.ID, "id_password")
    password.clear()
    password.send_keys(TEST_PASSWORD)
    Select(browser.find_element(By.ID, "id_otp_device")).select_by_visible_text("phone")
    browser.find_element(By.ID, "id_otp_token").send_keys(current_token(device))
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]:not([name=otp_challenge])").click()
    wait.until(lambda b: b.current_url == f"{daphne_url}/admin/console/")
    _wait_live(browser, wait)


def test_an_operator_watches_every_pool_in_the_console(daphne_url, browser):  # noqa: F811
    pool = _pool(MembershipFactory().partner, label="first partner's pool")
    _pool(MembershipFactory().partner, label="second partner's pool")
    wait = WebDriverWait(browser, 20)
    _console_login(browser, daphne_url, wait)
    cards = browser.find_element(By.ID, "pool-cards").text
    assert "first partner's pool" in cards
    assert "second partner's pool" in cards
    wait.until(_charts_drawn)
    assert _reserve_and_time(browser, pool, 3000) < 1.0


def _alert_item(driver, message: str):
    """The console's list item of the open alert whose message is `message`."""
    (item,) = [
        li for li in driver.find_elements(By.CSS_SELECTOR, "#alerts li") if message in li.text
    ]
    return item


def test_an_operator_acknowledges_an_alert_from_the_console(daphne_url, browser):  # noqa: F811
    from alerts.models import EnergyAlert
    from alerts.tests.factories import EnergyAlertFactory

    pool = _pool(MembershipFactory().partner, label="a pool with alerts")
    alert = EnergyAlertFactory(pool=pool, message="usage above the warning threshold")
    other = EnergyAlertFactory(
        pool=pool, kind=EnergyAlert.Kind.STALE_SYNC, message="not synced for an hour"
    )
    wait = WebDriverWait(browser, 20)
    _console_login(browser, daphne_url, wait)
    # The script has rendered the alerts from the JSON endpoint (its first fetch is done).
    wait.until(lambda b: b.execute_script("return window.epDashboard.fetches > 0;"))
    assert browser.find_element(By.ID, "alert-count").text == "2"
    browser.execute_script("window.epStayed = true;")  # gone if the page were reloaded

    def click_acknowledge(driver) -> bool:
        try:
            button = driver.find_element(By.CSS_SELECTOR, f'form[data-ack="{alert.pk}"] button')
            button.click()
        except StaleElementReferenceException:  # re-rendered under us: find it again
            return False
        return True

    wait.until(click_acknowledge)
    # In place: the alert says so, its button is gone, the other keeps its own, and the page
    # was not reloaded (the script posted it).
    wait.until(lambda b: "acknowledged" in _alert_item(b, "usage above").text)
    wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, f'form[data-ack="{alert.pk}"]'))
    assert browser.find_elements(By.CSS_SELECTOR, f'form[data-ack="{other.pk}"] button')
    assert "acknowledged" not in _alert_item(browser, "not synced").text
    assert browser.execute_script("return window.epStayed === true;")
    assert browser.current_url == f"{daphne_url}/admin/console/"

    # In the database, through the alerts service: who and when; the other is untouched.
    alert.refresh_from_db()
    other.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert alert.acknowledged_by_label == "root"
    assert alert.acknowledged_by is not None
    assert alert.acknowledged_by.get_username() == "root"
    assert alert.resolved_at is None  # acknowledged, still open
    assert other.acknowledged_at is None

    # A fresh page (server-rendered) shows the same.
    browser.get(f"{daphne_url}/admin/console/")
    _wait_live(browser, wait)
    assert "acknowledged" in _alert_item(browser, "usage above").text
    assert not browser.find_elements(By.CSS_SELECTOR, f'form[data-ack="{alert.pk}"]')
    assert browser.find_elements(By.CSS_SELECTOR, f'form[data-ack="{other.pk}"] button')
