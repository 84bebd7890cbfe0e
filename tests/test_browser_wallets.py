"""The partner's wallet page in a real browser (headless Chromium) with a stand-in for the
TronLink extension: the injected `window.tronLink` / `window.tronWeb`, whose
`signMessageV2` answers with signatures this test computed with tronpy for a known key.
The owner connects, signs the challenge, sees the wallet verified, and adds it as a
watch-only pool."""

import json

import pytest
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from tronpy.keys import PrivateKey

from partners.models import PartnerWallet, Role, WalletChallenge
from partners.tests.factories import TEST_PASSWORD, MembershipFactory, PartnerWalletFactory
from pools.models import EnergyPool
from pools.tests.test_wallet_signatures import KNOWN_ADDRESS, KNOWN_KEY
from tests.test_browser import PHONE, SCREENSHOTS, fits_the_phone
from tests.test_browser import browser as chromium

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

browser = chromium  # the headless Chromium fixture of tests/test_browser.py

# The extension's objects as a page sees them, defined before any page script runs. The
# signature for a message must have been handed over by the test (window.__signatures):
# a page that asked TronLink to sign any other text than the challenge would get a refusal.
TRONLINK_STUB = """
(function () {
  var address = %(address)s;
  window.__signatures = {};
  // What the page asked of TronLink, kept across the page loads of one tab.
  function ask(what) {
    var asked = JSON.parse(sessionStorage.getItem("tronlink-asked") || "[]");
    asked.push(what);
    sessionStorage.setItem("tronlink-asked", JSON.stringify(asked));
  }
  var tronWeb = {
    ready: true,
    defaultAddress: { base58: address },
    trx: {
      signMessageV2: function (message) {
        ask(message);
        var signature = window.__signatures[message];
        return signature ? Promise.resolve(signature)
                         : Promise.reject(new Error("Confirmation declined by user"));
      }
    }
  };
  window.tronLink = {
    ready: true,
    tronWeb: tronWeb,
    request: function (args) {
      ask(args.method);
      return Promise.resolve({ code: 200, message: "The site is already in the whitelist" });
    }
  };
  window.tronWeb = tronWeb;
})();
"""


def with_tronlink(driver, address):
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": TRONLINK_STUB % {"address": json.dumps(address)}},
    )


def log_in_as_staff(driver, live_server, username):
    driver.get(f"{live_server.url}/login/?next=/partner/wallets/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(TEST_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 20).until(ec.url_to_be(f"{live_server.url}/partner/wallets/"))


def asked_of_tronlink(driver):
    return json.loads(driver.execute_script('return sessionStorage.getItem("tronlink-asked");'))


def hand_signature(driver, message, signature):
    driver.execute_script("window.__signatures[arguments[0]] = arguments[1];", message, signature)


def test_the_owner_links_a_tronlink_wallet_and_adds_it_as_a_pool(
    devnet, partner, live_server, browser
):
    MembershipFactory(partner=partner, role=Role.OWNER, user__username="olivia")
    devnet.fund(KNOWN_ADDRESS, 25)  # onboarding checks that the account exists on chain
    with_tronlink(browser, KNOWN_ADDRESS)
    wait = WebDriverWait(browser, 20)
    log_in_as_staff(browser, live_server, "olivia")
    assert browser.find_element(By.ID, "no-wallets")

    browser.find_element(By.ID, "connect").click()
    wait.until(ec.url_contains("/partner/wallets/sign/"))
    challenge = WalletChallenge.objects.get()
    assert challenge.address == KNOWN_ADDRESS
    assert asked_of_tronlink(browser) == ["tron_requestAccounts"]
    assert browser.find_element(By.ID, "challenge-message").text.strip() == (
        challenge.message.strip()
    )

    # First the wallet answers with another key's signature: the page says why, and the
    # challenge stays usable.
    stranger = PrivateKey.random()
    hand_signature(
        browser,
        challenge.message,
        "0x" + stranger.sign_msg(challenge.message.encode()).tronweb_hex(),
    )
    browser.find_element(By.ID, "sign").click()
    wait.until(
        ec.text_to_be_present_in_element(
            (By.CSS_SELECTOR, ".notice.bad"), "The signature was not made by this address"
        )
    )
    assert not PartnerWallet.objects.exists()

    # TronLink signs the exact challenge text (TIP-191) with the wallet's key.
    hand_signature(
        browser,
        challenge.message,
        "0x" + KNOWN_KEY.sign_msg(challenge.message.encode()).tronweb_hex(),
    )
    if SCREENSHOTS:
        browser.save_screenshot(f"{SCREENSHOTS}/wallet-sign.png")
    browser.find_element(By.ID, "id_label").send_keys("treasury")
    browser.find_element(By.ID, "sign").click()
    wait.until(ec.url_to_be(f"{live_server.url}/partner/wallets/"))
    # Each press connected, then asked for a signature of exactly the challenge's text.
    connect_then_sign = ["tron_requestAccounts", challenge.message]
    assert asked_of_tronlink(browser) == ["tron_requestAccounts", *connect_then_sign * 2]
    notice = browser.find_element(By.CSS_SELECTOR, '#page-messages [data-level="success"]')
    assert notice.text == f"Wallet {KNOWN_ADDRESS} is verified."
    row = browser.find_element(By.CSS_SELECTOR, f'li.wallet[data-address="{KNOWN_ADDRESS}"]')
    assert row.find_element(By.CSS_SELECTOR, '[data-state="verified"]').text == "Verified"
    wallet = PartnerWallet.objects.get()
    assert (wallet.partner, wallet.label) == (partner, "treasury")
    assert wallet.verified_at is not None
    assert WalletChallenge.objects.get().used_at is not None

    row.find_element(By.CSS_SELECTOR, "form.add-pool button").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.wallet [data-pool]")))
    pool = EnergyPool.objects.get()
    assert (pool.address, pool.custody, pool.partner) == (KNOWN_ADDRESS, "watch_only", partner)
    assert pool.trx_balance_sun == 25_000_000
    shown = browser.find_element(By.CSS_SELECTOR, "li.wallet [data-pool]")
    assert shown.get_attribute("data-pool") == str(pool.pk)
    assert shown.text == f"Watch-only pool #{pool.pk}"
    assert browser.find_elements(By.CSS_SELECTOR, "form.add-pool") == []
    if SCREENSHOTS:
        browser.save_screenshot(f"{SCREENSHOTS}/wallets.png")


def test_without_tronlink_the_page_says_so_at_a_phones_width(partner, live_server, browser):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    MembershipFactory(partner=partner, role=Role.OWNER, user__username="omar")
    PartnerWalletFactory(partner=partner, label="cold storage", verified_at=timezone.now())
    log_in_as_staff(browser, live_server, "omar")
    fits_the_phone(browser)
    browser.find_element(By.ID, "connect").click()
    error = WebDriverWait(browser, 10).until(
        ec.visibility_of_element_located((By.ID, "tronlink-error"))
    )
    assert "TronLink was not found" in error.text
    assert browser.current_url == f"{live_server.url}/partner/wallets/"
    assert not WalletChallenge.objects.exists()
