"""WebSocket routes."""

from django.urls import path

from partners.consumers import LiveConsumer
from withdrawals.consumers import WithdrawalStatusConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/withdrawals/<int:withdrawal_id>/", WithdrawalStatusConsumer.as_asgi()),
]
