from django.urls import path

from pools.apis.pools import PoolDetailApi, PoolListApi

app_name = "pools"

urlpatterns = [
    path("", PoolListApi.as_view(), name="list"),
    path("<int:pool_id>/", PoolDetailApi.as_view(), name="detail"),
]
