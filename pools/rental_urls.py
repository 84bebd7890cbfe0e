"""Rental orders under /api/v1/ (automatic top-up; reads only)."""

from django.urls import path

from pools.apis.rentals import RentalOrderDetailApi, RentalOrderListApi

app_name = "rentals"

urlpatterns = [
    path("rental-orders", RentalOrderListApi.as_view(), name="list"),
    path("rental-orders/<int:rental_order_id>", RentalOrderDetailApi.as_view(), name="detail"),
]
