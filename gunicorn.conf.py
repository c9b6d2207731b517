"""Gunicorn settings of the web service (the image's command names this file).

The access log goes to stdout through a logger that masks customer-link tokens
(transferdesk/logmask.py): a personal link is a bearer credential and must not sit in logs.
"""

bind = "0.0.0.0:8000"
workers = 3
timeout = 60
accesslog = "-"
logger_class = "transferdesk.logmask.GunicornLogger"
