"""The Celery application. Tasks live in each app's `tasks.py` and are autodiscovered."""

import os

from celery import Celery

from common.celery_hooks import celery_hooks_connect

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "energy_platform.settings")

app = Celery("energy_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
celery_hooks_connect()  # task metrics and request ids
