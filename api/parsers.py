"""The API's JSON parser: DRF's, except that a body nested deeper than Python's recursion
limit (``[[[[…``, a few hundred kilobytes) is the 400 of any malformed body, not a 500: the
standard library's decoder raises ``RecursionError``, which DRF's parser does not catch."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
