"""The base model every app's models extend."""

from __future__ import annotations

from django.db import models


class BaseModel(models.Model):
    """Creation and modification times on every row."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
