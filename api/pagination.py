"""Cursor pagination for every list: stable while rows are added, and constant cost per page
whatever the depth (no OFFSET)."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = ("-created_at", "id")
