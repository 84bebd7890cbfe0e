"""The pools app's API under /api/v1/: pools, staking operations, energy reads and actions
(seed endpoint names kept), energy sharing, rental orders and wallet linking.

One convention across apps (docs/architecture.md): `<app>/api_urls.py` holds the app's API
paths relative to /api/v1/, `<app>/urls.py` its pages relative to the site root.
"""

from django.urls import path

from pools.apis import energy, wallets
from pools.apis.pools import PoolDetailApi, PoolListApi, PoolStatusApi
from pools.apis.rentals import RentalOrderDetailApi, RentalOrderListApi
from pools.apis.staking import OperationListApi, StakeQuoteApi

app_name = "pools-api"
urlpatterns = [
    path("pools/", PoolListApi.as_view(), name="pools"),
    path("pools/<int:pool_id>/", PoolDetailApi.as_view(), name="pool"),
    path("pools/<int:pool_id>/status", PoolStatusApi.as_view(), name="pool-status"),
    path("pools/<int:pool_id>/stake-quote", StakeQuoteApi.as_view(), name="pool-stake-quote"),
    path("pools/<int:pool_id>/operations", OperationListApi.as_view(), name="pool-operations"),
    path("energy/monitor/<int:partner_id>", energy.EnergyMonitorApi.as_view(), name="monitor"),
    path("energy/usage-logs/<int:partner_id>", energy.UsageLogListApi.as_view(), name="usage-logs"),
    path("energy/update/<int:partner_id>", energy.EnergyUpdateApi.as_view(), name="update"),
    path("energy/overview", energy.EnergyOverviewApi.as_view(), name="overview"),
    path("energy/prices", energy.PricesApi.as_view(), name="prices"),
    path("energy/shares", energy.ShareListApi.as_view(), name="shares"),
    path("admin/energy/status", energy.AdminEnergyStatusApi.as_view(), name="admin-status"),
    path("admin/energy/create-pool", energy.AdminCreatePoolApi.as_view(), name="admin-create-pool"),
    path("rental-orders", RentalOrderListApi.as_view(), name="rental-orders"),
    path(
        "rental-orders/<int:rental_order_id>",
        RentalOrderDetailApi.as_view(),
        name="rental-order",
    ),
    path("wallets/", wallets.WalletListApi.as_view(), name="wallets"),
    path("wallets/challenge", wallets.WalletChallengeApi.as_view(), name="wallet-challenge"),
    path("wallets/verify", wallets.WalletVerifyApi.as_view(), name="wallet-verify"),
    path("wallets/<int:wallet_id>/", wallets.WalletDetailApi.as_view(), name="wallet"),
    path("wallets/<int:wallet_id>/pool", wallets.WalletPoolApi.as_view(), name="wallet-pool"),
]
