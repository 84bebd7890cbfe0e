from django.urls import path

from pools.apis.pools import PoolDetailApi, PoolListApi, PoolStatusApi
from pools.apis.staking import OperationListApi, StakeQuoteApi

app_name = "pools"

urlpatterns = [
    path("", PoolListApi.as_view(), name="list"),
    path("<int:pool_id>/", PoolDetailApi.as_view(), name="detail"),
    path("<int:pool_id>/status", PoolStatusApi.as_view(), name="status"),
    path("<int:pool_id>/stake-quote", StakeQuoteApi.as_view(), name="stake-quote"),
    path("<int:pool_id>/operations", OperationListApi.as_view(), name="operations"),
]
