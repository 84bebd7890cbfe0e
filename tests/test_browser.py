"""The user flow in a real browser (headless Chromium): log in, read the energy notice,
request a withdrawal, watch its status change without reloading."""

from decimal import Decimal

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from tronpy.keys import PrivateKey

from partners.tests.factories import TEST_PASSWORD, CustomerFactory
from pools.chain import chain_client
from pools.models import EnergyPool
from pools.services.keys import signing_key_import
from pools.tests.factories import EnergyPoolFactory
from withdrawals.models import Withdrawal
from withdrawals.services.balances import balance_credit
from withdrawals.services.sending import withdrawals_drive

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


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


def test_a_user_withdraws_and_watches_the_status(devnet, partner, live_server, browser):
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

    browser.get(f"{live_server.url}/login/")
    browser.find_element(By.ID, "id_username").send_keys("alice")
    browser.find_element(By.ID, "id_password").send_keys(TEST_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.url_to_be(f"{live_server.url}/"))

    browser.get(f"{live_server.url}/withdraw/")
    notice = browser.find_element(By.ID, "energy-notice").text
    assert "Network fee free" in notice
    field = browser.find_element(By.ID, "id_to_address")
    field.send_keys("TNotAnAddress")
    wait.until(ec.text_to_be_present_in_element((By.ID, "address-check"), "✗"))
    field.clear()
    field.send_keys(recipient)
    wait.until(ec.text_to_be_present_in_element((By.ID, "address-check"), "✓"))
    browser.find_element(By.ID, "id_amount").send_keys("12.5")
    browser.find_element(By.CSS_SELECTOR, "#withdraw-form button[type=submit]").click()
    wait.until(ec.url_contains("/withdrawals/"))
    assert browser.find_element(By.ID, "status").text == "Reserved"

    # The jobs move it on; the open page follows without a reload.
    withdrawal = Withdrawal.objects.get()
    withdrawals_drive()
    devnet.mine()
    withdrawals_drive()
    withdrawal.refresh_from_db()
    assert withdrawal.status == "confirmed"
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "Confirmed"))
    txid = browser.find_element(By.ID, "txid").text
    assert txid == withdrawal.attempts.get().txid
    assert chain_client().usdt_balance(recipient) == 12_500_000
