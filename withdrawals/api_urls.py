"""Partner API routes of the withdrawals app, under /api/v1/."""

from django.urls import path

from withdrawals import apis

app_name = "withdrawals-api"

urlpatterns = [
    path("customers", apis.CustomerListApi.as_view(), name="customers"),
    path("customers/<int:customer_id>", apis.CustomerDetailApi.as_view(), name="customer"),
    path("users/<int:customer_id>/credits", apis.CreditApi.as_view(), name="credits"),
    path("energy/status", apis.EnergyStatusApi.as_view(), name="energy-status"),
    path(
        "energy/emergency-withdrawal",
        apis.EmergencyWithdrawalApi.as_view(),
        name="emergency-withdrawal",
    ),
    path("withdrawals", apis.WithdrawalListApi.as_view(), name="withdrawals"),
    path("withdrawals/", apis.WithdrawalListSlashApi.as_view()),
    path("withdrawals/<int:withdrawal_id>/", apis.WithdrawalDetailApi.as_view(), name="withdrawal"),
    path(
        "withdrawals/<int:withdrawal_id>/cancel",
        apis.WithdrawalCancelApi.as_view(),
        name="withdrawal-cancel",
    ),
]
