"""Wallet linking under /api/v1/wallets/."""

from django.urls import path

from pools.apis import wallets

app_name = "wallets"

urlpatterns = [
    path("", wallets.WalletListApi.as_view(), name="list"),
    path("challenge", wallets.WalletChallengeApi.as_view(), name="challenge"),
    path("verify", wallets.WalletVerifyApi.as_view(), name="verify"),
    path("<int:wallet_id>/", wallets.WalletDetailApi.as_view(), name="detail"),
    path("<int:wallet_id>/pool", wallets.WalletPoolApi.as_view(), name="pool"),
]
