"""Partner API routes of the withdrawals app, under /api/v1/."""

from django.urls import path

from withdrawals.apis import credits, customers, emergency, energy, withdrawals

app_name = "withdrawals-api"

urlpatterns = [
    path("customers", customers.CustomerListApi.as_view(), name="customers"),
    path("customers/<int:customer_id>", customers.CustomerDetailApi.as_view(), name="customer"),
    path("users/<int:customer_id>/credits", credits.CreditApi.as_view(), name="credits"),
    path("energy/status", energy.EnergyStatusApi.as_view(), name="energy-status"),
    path(
        "energy/emergency-withdrawal/quote",
        emergency.EmergencyQuoteApi.as_view(),
        name="emergency-quote",
    ),
    path(
        "energy/emergency-withdrawal/confirm",
        emergency.EmergencyConfirmApi.as_view(),
        name="emergency-confirm",
    ),
    path(
        "energy/emergency-withdrawal",
        emergency.EmergencyWithdrawalApi.as_view(),
        name="emergency-withdrawal",
    ),
    path("withdrawals", withdrawals.WithdrawalListApi.as_view(), name="withdrawals"),
    path("withdrawals/", withdrawals.WithdrawalListSlashApi.as_view()),
    path(
        "withdrawals/<int:withdrawal_id>/",
        withdrawals.WithdrawalDetailApi.as_view(),
        name="withdrawal",
    ),
    path(
        "withdrawals/<int:withdrawal_id>/cancel",
        withdrawals.WithdrawalCancelApi.as_view(),
        name="withdrawal-cancel",
    ),
]
