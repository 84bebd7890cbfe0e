"""Prediction reads under /api/v1/ (seed endpoint names kept)."""

from django.urls import path

from predictions import apis

app_name = "predictions-api"

urlpatterns = [
    path("energy/patterns/<int:partner_id>", apis.PatternsApi.as_view(), name="patterns"),
    path(
        "energy/recommendations/<int:partner_id>",
        apis.RecommendationsApi.as_view(),
        name="recommendations",
    ),
    path("pools/<int:pool_id>/forecast", apis.PoolForecastApi.as_view(), name="pool-forecast"),
]
