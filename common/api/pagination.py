"""Pagination for every list endpoint: bounded page size, stable ordering required.

`page` and `page_size` are taken strictly: a value that is not a whole number in range is
a 400 with the field named (DRF would quietly fall back to the default page size).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.core.paginator import InvalidPage
from django.db.models import Count, QuerySet, Window
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from common.db import values_rows

_WHOLE = re.compile(r"[0-9]{1,9}", re.ASCII)


def _whole(request: Request, name: str, *, maximum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not _WHOLE.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        raise ValidationError({name: [f"A whole number from 1 to {maximum}."]})
    return int(raw)


class DefaultPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    max_page = 10**9 - 1

    def get_page_size(self, request: Request) -> int:
        size = _whole(request, self.page_size_query_param, maximum=self.max_page_size)
        return self.page_size if size is None else size

    def get_page_number(self, request: Request, paginator: object) -> int | str:
        page = _whole(request, self.page_query_param, maximum=self.max_page)
        return 1 if page is None else page

    def paginate_rows(
        self, queryset: QuerySet[Any], request: Request, *, fields: Sequence[str]
    ) -> list[dict[str, Any]]:
        """The page as dicts of `fields` (no model instances), with the total counted by the
        same query (`COUNT(*) OVER ()`, PostgreSQL and SQLite alike). Only a page past the
        end costs a second query: the count, for the same 404 as `paginate_queryset`.
        `get_paginated_response` works as after `paginate_queryset`."""
        self.request = request
        size = self.get_page_size(request)
        paginator = self.django_paginator_class(queryset, size)
        number = int(self.get_page_number(request, paginator))
        start = (number - 1) * size
        rows = values_rows(
            queryset.values(*fields).annotate(_total=Window(Count("pk")))[start : start + size]
        )
        if rows:
            paginator.__dict__["count"] = rows[0]["_total"]  # Paginator.count is cached
            for row in rows:
                del row["_total"]
        elif number == 1:
            paginator.__dict__["count"] = 0  # an empty first page: nothing matched
        try:
            self.page = paginator.page(number)  # lazy: its rows are never fetched again
        except InvalidPage as exc:
            raise NotFound(
                self.invalid_page_message.format(page_number=number, message=str(exc))
            ) from None
        return rows


def paginated_response(
    view: APIView, queryset: QuerySet[Any], serializer_class: type[BaseSerializer[Any]]
) -> Response:
    """The page of `queryset` the view's request asks for, each row through
    `serializer_class`, with the count and the links (`DefaultPagination`)."""
    paginator = DefaultPagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
