from django.urls import path

from partners.apis import PartnerMeApi

app_name = "partners"

urlpatterns = [
    path("me/", PartnerMeApi.as_view(), name="me"),
]
