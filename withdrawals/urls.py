from django.urls import path

from withdrawals import views

app_name = "withdrawals"

urlpatterns = [
    path("login/", views.UserLoginView.as_view(), name="login"),
    path("logout/", views.UserLogoutView.as_view(), name="logout"),
    path("", views.history, name="history"),
    path("withdraw/", views.withdraw, name="withdraw"),
    path("withdraw/check-address", views.check_address, name="check-address"),
    path("withdrawals/<int:withdrawal_id>/", views.status, name="status"),
    path("withdrawals/<int:withdrawal_id>/status.json", views.status_json, name="status-json"),
    path("withdrawals/<int:withdrawal_id>/pay/", views.pay, name="pay"),
]
