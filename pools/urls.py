"""The pools app's pages: the partner staff's wallet page under /partner/wallets/ (the API is
in api_urls.py)."""

from django.urls import path

from pools import wallet_views

app_name = "pools"

urlpatterns = [
    path("partner/wallets/", wallet_views.wallets, name="wallets"),
    path("partner/wallets/challenge", wallet_views.challenge, name="wallet-challenge"),
    path("partner/wallets/sign/<str:nonce>/", wallet_views.sign, name="wallet-sign"),
    path("partner/wallets/<int:wallet_id>/pool", wallet_views.add_pool, name="wallet-add-pool"),
]
