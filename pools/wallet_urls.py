"""The partner staff's wallet page under /partner/wallets/."""

from django.urls import path

from pools import wallet_views

app_name = "wallet-pages"

urlpatterns = [
    path("", wallet_views.wallets, name="list"),
    path("challenge", wallet_views.challenge, name="challenge"),
    path("sign/<str:nonce>/", wallet_views.sign, name="sign"),
    path("<int:wallet_id>/pool", wallet_views.add_pool, name="add-pool"),
]
