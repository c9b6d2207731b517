"""WSGI entry point (gunicorn transferdesk.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transferdesk.settings")
application = get_wsgi_application()
