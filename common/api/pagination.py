"""Pagination for every list endpoint: bounded page size, stable ordering required.

`page` and `page_size` are taken strictly: a value that is not a whole number in range is
a 400 with the field named (DRF would quietly fall back to the default page size).
"""

from __future__ import annotations

import re

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

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
