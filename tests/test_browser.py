"""The user flow in a real browser (headless Chromium): log in, read the energy notice,
request a withdrawal, watch its timeline walk to confirmed without reloading; pay an
emergency fee on chain from the page; every page at a phone's width (390 px)."""

import io
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import zxingcpp
from django.core.cache import cache
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait
from tronpy.keys import PrivateKey

from partners.tests.factories import TEST_PASSWORD, CustomerFactory
from pools.chain import chain_client
from pools.models import EnergyPool
from pools.services.keys import signing_key_import
from pools.tests.factories import EnergyPoolFactory
from pools.tests.test_chain_client import KeySigner
from withdrawals.models import EmergencyFee, Withdrawal
from withdrawals.selectors import HEAD_CACHE_KEY
from withdrawals.services.balances import balance_credit
from withdrawals.services.sending import withdrawals_drive
from withdrawals.tests.factories import WithdrawalFactory
from withdrawals.tests.test_emergency import emergency_wallet

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
# Screenshots of the phone-width pages land here when set (to look at them), else in tmp.
SCREENSHOTS = os.environ.get("BROWSER_SCREENSHOTS")


def text_shown(element_id: str, text: str) -> Callable[[WebDriver], bool]:
    """A wait condition: the element's text contains `text`, read in one script call.

    Selenium's `text_to_be_present_in_element` finds the node and reads it in two calls; a
    form post that replaces the page between them fails with Chromium's "node does not
    belong to the document" (not a stale-element error the wait would retry).
    """

    def shown(driver: WebDriver) -> bool:
        found = driver.execute_script(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
            element_id,
        )
        return found is not None and text in found

    return shown


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def log_in(browser, live_server, username):
    browser.get(f"{live_server.url}/login/")
    browser.find_element(By.ID, "id_username").send_keys(username)
    browser.find_element(By.ID, "id_password").send_keys(TEST_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 20).until(ec.url_to_be(f"{live_server.url}/"))


def step_state(browser, step):
    return browser.find_element(By.CSS_SELECTOR, f'#steps li[data-step="{step}"]').get_attribute(
        "data-state"
    )


def test_a_user_withdraws_and_watches_the_timeline(devnet, partner, live_server, browser):
    key = PrivateKey.random()
    address = key.public_key.to_base58check_address()
    devnet.fund(address, 100)
    devnet.mint(address, 1_000)
    signing_key_import(private_key_hex=key.hex())
    EnergyPoolFactory(
        partner=partner, address=address, custody=EnergyPool.Custody.CUSTODIAL, energy_limit=10**7
    )
    customer = CustomerFactory(partner=partner, user__username="alice")
    balance_credit(customer=customer, currency="USDT", amount=Decimal("50"), idempotency_key="seed")
    recipient = PrivateKey.random().public_key.to_base58check_address()
    wait = WebDriverWait(browser, 20)
    log_in(browser, live_server, "alice")

    browser.get(f"{live_server.url}/withdraw/")
    notice = browser.find_element(By.ID, "energy-notice")
    assert "Network fee free" in notice.text
    icon = notice.find_element(By.TAG_NAME, "svg")  # drawn, not a font's missing glyph
    assert icon.size["width"] > 10
    field = browser.find_element(By.ID, "id_to_address")
    field.send_keys("TNotAnAddress")
    check = (By.CSS_SELECTOR, '#address-check[data-valid="false"]')
    wait.until(ec.presence_of_element_located(check))
    field.clear()
    field.send_keys(recipient)
    wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '#address-check[data-valid="true"]'))
    )
    assert "valid address" in browser.find_element(By.ID, "address-check").text
    browser.find_element(By.ID, "id_amount").send_keys("12.5")
    browser.find_element(By.CSS_SELECTOR, "#withdraw-form button[type=submit]").click()
    wait.until(ec.url_contains("/withdrawals/"))
    assert browser.find_element(By.ID, "status").text == "Reserved"
    assert browser.find_element(By.ID, "amount").text == "12.5 USDT"
    assert (step_state(browser, "reserved"), step_state(browser, "signed")) == ("done", "current")

    # The jobs move it on; the open page follows without a reload, step by step.
    withdrawal = Withdrawal.objects.get()
    withdrawals_drive()  # signed and sent
    wait.until(lambda b: step_state(b, "sent") == "done")
    assert step_state(browser, "confirmed") == "current"
    devnet.mine()
    withdrawals_drive()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "confirmed"
    wait.until(text_shown("status", "Confirmed"))
    assert step_state(browser, "confirmed") == "done"
    txid = browser.find_element(By.ID, "txid").text
    assert txid == withdrawal.attempts.get().txid
    assert browser.find_elements(By.ID, "explorer") == []  # no explorer on the devnet
    assert chain_client().usdt_balance(recipient) == 12_500_000
    assert "saved you" in browser.find_element(By.ID, "fee").text
    # Confirmations keep counting on the open page.
    count = int(browser.find_element(By.ID, "confirmation-count").text)
    devnet.mine(2)
    cache.delete(HEAD_CACHE_KEY)
    wait.until(text_shown("confirmation-count", str(count + 2)))
    times = browser.find_elements(By.CSS_SELECTOR, "#steps time")
    assert len(times) == 5
    assert all(t.text and "UTC" not in t.text for t in times)  # in the reader's time zone


def test_a_user_pays_the_emergency_fee_on_chain_from_a_phone(
    devnet, partner, live_server, browser, tmp_path
):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    key = PrivateKey.random()
    pool_address = key.public_key.to_base58check_address()
    devnet.fund(pool_address, 10)
    signing_key_import(private_key_hex=key.hex())
    EnergyPoolFactory(  # no energy: the notice offers the queue or paying the fee now
        partner=partner, address=pool_address, custody=EnergyPool.Custody.CUSTODIAL, energy_limit=0
    )
    wallet = emergency_wallet(devnet, partner, usdt=1_000)
    customer = CustomerFactory(partner=partner, user__username="bob")
    balance_credit(customer=customer, currency="USDT", amount=Decimal("80"), idempotency_key="s")
    recipient = PrivateKey.random().public_key.to_base58check_address()
    wait = WebDriverWait(browser, 20)
    shots = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)

    browser.get(f"{live_server.url}/login/")
    fits_the_phone(browser)
    log_in(browser, live_server, "bob")
    browser.get(f"{live_server.url}/withdraw/")
    notice = browser.find_element(By.ID, "energy-notice")
    assert "Network busy" in notice.text
    assert notice.find_element(By.TAG_NAME, "svg").size["width"] > 10
    fits_the_phone(browser)
    header_is_readable(browser)
    browser.find_element(By.ID, "id_to_address").send_keys(recipient)
    browser.find_element(By.ID, "id_amount").send_keys("20")
    browser.find_element(By.ID, "pay-and-go").click()
    wait.until(ec.url_contains("/pay/"))
    withdrawal = Withdrawal.objects.get()
    fee = EmergencyFee.objects.get(withdrawal=withdrawal)

    # What the page shows is what is paid: the amount, the address, and the QR code of it.
    shown_fee = Decimal(browser.find_element(By.ID, "fee-trx").text)
    pay_to = browser.find_element(By.ID, "pay-to").text
    assert shown_fee * 1_000_000 == fee.quoted_fee_sun
    assert pay_to == wallet.address
    qr = browser.find_element(By.CSS_SELECTOR, "svg.qr")
    assert qr.size["width"] >= 150
    scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot_as_png)))
    assert [code.text for code in scanned] == [pay_to]
    fits_the_phone(browser)
    browser.save_screenshot(str(shots / "emergency-390.png"))

    # The user pays from a funded wallet of their own, on chain, and gives the txid.
    payer = KeySigner(PrivateKey.random())
    devnet.fund(payer.address, 100)
    client = chain_client()
    unsigned = client.build_trx_transfer(
        owner=payer.address, to=pay_to, amount_sun=int(shown_fee * 1_000_000)
    )
    assert client.broadcast(client.sign(unsigned, payer)).accepted
    devnet.mine()
    txid_field = browser.find_element(By.ID, "id_payment_txid")
    txid_field.send_keys("not a txid")
    browser.find_element(By.CSS_SELECTOR, "#pay-onchain button[type=submit]").click()
    wait.until(text_shown("pay-onchain", "64 characters"))
    assert Withdrawal.objects.get().status == "requested"
    txid_field = browser.find_element(By.ID, "id_payment_txid")
    txid_field.clear()
    txid_field.send_keys(unsigned.txid)
    browser.find_element(By.CSS_SELECTOR, "#pay-onchain button[type=submit]").click()
    wait.until(ec.url_to_be(f"{live_server.url}/withdrawals/{withdrawal.pk}/"))
    assert step_state(browser, "paid") == "done"
    assert browser.find_element(By.ID, "payment-txid").text == unsigned.txid
    assert f"you paid {shown_fee} TRX" in browser.find_element(By.ID, "fee").text

    withdrawals_drive()
    devnet.mine()
    withdrawals_drive()
    wait.until(text_shown("status", "Confirmed"))
    assert chain_client().usdt_balance(recipient) == 20_000_000
    fits_the_phone(browser)
    header_is_readable(browser)
    browser.save_screenshot(str(shots / "status-390.png"))

    for n in range(22):  # the history's second page, at the phone's width
        WithdrawalFactory(customer=customer, partner=partner, amount=Decimal(n + 1))
    browser.get(f"{live_server.url}/")
    assert browser.find_element(By.CSS_SELECTOR, ".pages .current").text == "1"
    fits_the_phone(browser)
    browser.find_element(By.CSS_SELECTOR, '.pages a[rel="next"]').click()
    wait.until(ec.url_contains("?page=2"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#withdrawals li")) == 3
    fits_the_phone(browser)
    browser.save_screenshot(str(shots / "history-390.png"))

    # In Korean too (the header's language menu).
    Select(browser.find_element(By.NAME, "language")).select_by_value("ko")
    wait.until(lambda b: b.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko")
    assert browser.find_element(By.ID, "logout").text == "로그아웃"
    fits_the_phone(browser)
    header_is_readable(browser)
    for name, page in (("status", f"/withdrawals/{withdrawal.pk}/"), ("withdraw", "/withdraw/")):
        browser.get(f"{live_server.url}{page}")
        fits_the_phone(browser)
        browser.save_screenshot(str(shots / f"{name}-390-ko.png"))
    assert browser.find_element(By.ID, "pay-and-go").text.startswith("약 ")


def fits_the_phone(browser: WebDriver) -> None:
    """Nothing is wider than the 390 px screen: no sideways scrolling, nothing cut off."""
    width, scroll_width, too_wide = browser.execute_script(
        """
        var w = window.innerWidth, wide = [];
        document.querySelectorAll("body *").forEach(function (e) {
          var r = e.getBoundingClientRect();
          if (r.width && (r.right > w + 0.5 || r.left < -0.5)) wide.push(e.tagName + "#" + e.id);
        });
        return [w, document.documentElement.scrollWidth, wide];
        """
    )
    assert width == PHONE["width"]
    assert scroll_width <= width, too_wide
    assert too_wide == []


def header_is_readable(browser: WebDriver) -> None:
    """ "Log out" has at least WCAG AA contrast (4.5:1) against what is behind it."""
    ratio = browser.execute_script(
        """
        function rgb(s) { return s.match(/[\\d.]+/g).map(Number); }
        function lum(c) {
          var v = c.slice(0, 3).map(function (x) {
            x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4);
          });
          return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
        }
        var button = document.getElementById("logout");
        var fg = rgb(getComputedStyle(button).color), e = button, bg;
        while (e) {
          bg = rgb(getComputedStyle(e).backgroundColor);
          if (bg.length < 4 || bg[3] > 0) break;
          e = e.parentElement;
        }
        var a = lum(fg), b = lum(bg);
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        """
    )
    assert ratio >= 4.5, ratio
