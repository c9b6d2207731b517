"""Compile ``locale/*/LC_MESSAGES/*.po`` into ``.mo`` files.

Django's ``compilemessages`` needs GNU gettext's ``msgfmt`` on the machine; polib does the same
in Python, so a fresh clone runs with nothing but Python installed.
"""

from __future__ import annotations

from typing import Any

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile translation catalogues (.po to .mo) without system gettext tools."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        for locale_dir in settings.LOCALE_PATHS:
            for po_path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
                polib.pofile(str(po_path)).save_as_mofile(str(po_path.with_suffix(".mo")))
                count += 1
        self.stdout.write(f"compile_catalogues: {count} catalogue(s) compiled")
