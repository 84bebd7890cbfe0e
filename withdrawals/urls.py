from django.urls import path

from withdrawals import views

app_name = "withdrawals"

urlpatterns = [
    path("login/", views.UserLoginView.as_view(), name="login"),
    path("logout/", views.UserLogoutView.as_view(), name="logout"),
    path("", views.history, name="history"),
]
