from django.urls import path

from pools.apis.pools import PoolDetailApi, PoolListApi, PoolStatusApi

app_name = "pools"

urlpatterns = [
    path("", PoolListApi.as_view(), name="list"),
    path("<int:pool_id>/", PoolDetailApi.as_view(), name="detail"),
    path("<int:pool_id>/status", PoolStatusApi.as_view(), name="status"),
]
