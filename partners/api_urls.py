from django.urls import path

from partners.apis import PartnerMeApi

app_name = "partners-api"

urlpatterns = [
    path("partners/me/", PartnerMeApi.as_view(), name="me"),
]
