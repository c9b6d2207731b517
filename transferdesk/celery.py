"""The Celery app: Redis broker, three queues, late acks, JSON only, ids-only task arguments.

Configuration lives in settings (``CELERY_*``). The request id of the web request (or task) that
enqueues a task travels in the message headers, so that a task's log lines and audit events carry
the id of the request that caused them.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

from celery import Celery, Task
from celery.signals import before_task_publish, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "transferdesk.settings")

_ID_STRING = re.compile(r"^[0-9a-fA-F-]{32,36}$|^\d{1,19}$")


def _check_id_argument(value: Any) -> None:
    """Task arguments are primary keys: ints, UUIDs, or their string forms. Nothing else.

    Personal data must never enter a broker message (DESIGN.md guarantee 1), so anything that
    is not an id is refused at enqueue time rather than trusted to every caller's discipline.
    """
    if value is None or isinstance(value, bool | int | uuid.UUID):
        return
    if isinstance(value, str) and _ID_STRING.match(value):
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_id_argument(item)
        return
    raise TypeError(
        f"Task arguments must be ids (int or UUID), not {type(value).__name__}; "
        "pass primary keys and re-fetch inside the task."
    )


class IdOnlyTask(Task):
    """Base task: validates that arguments are ids before anything is sent."""

    def apply_async(self, args: Any = None, kwargs: Any = None, *a: Any, **kw: Any) -> Any:
        for value in args or ():
            _check_id_argument(value)
        for value in (kwargs or {}).values():
            _check_id_argument(value)
        return super().apply_async(args, kwargs, *a, **kw)


app = Celery("transferdesk", task_cls=IdOnlyTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    ["transferdesk", "accounts", "notifications", "customers", "transfers", "audits"]
)
# Retention, backups and restore drills keep their tasks apart from the audit reports'.
app.autodiscover_tasks(["audits"], related_name="tasks_lifecycle")
# The API's webhook deliveries and their sweeper (api/webhook_tasks.py).
app.autodiscover_tasks(["api"], related_name="webhook_tasks")


@before_task_publish.connect
def _attach_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    from .middleware import get_request_id

    if headers is not None and "request_id" not in headers:
        headers["request_id"] = get_request_id()


@task_prerun.connect
def _restore_request_id(task: Task | None = None, **_: Any) -> None:
    from .middleware import set_request_id

    request_id = getattr(task.request, "request_id", None) if task else None
    set_request_id(request_id or f"task-{uuid.uuid4().hex[:12]}")


@task_postrun.connect
def _clear_request_id(**_: Any) -> None:
    from .middleware import set_request_id

    set_request_id(None)
