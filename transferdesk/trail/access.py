"""Access logging for views: reads of sensitive and core data, exports and portal views.

Views do not write audit events by hand. A view that has the object in hand calls
``log_access``; a view whose URL names the object can be wrapped in ``records_access``, which
writes the event once the view has answered successfully (a 404 or 403 revealed nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from .choices import AuditAction
from .models import AuditEvent
from .services import record_event

View = Callable[..., HttpResponse]


def log_access(
    request: HttpRequest,
    *,
    action: AuditAction,
    obj: Model,
    deal: Any = None,
    fields: Iterable[str] = (),
    reason: str = "",
) -> AuditEvent:
    """Record that ``request.user`` read ``obj`` (and which fields, by name, never values),
    with the reason code the reader gave, where the page asks for one."""
    names = sorted(set(fields))
    details: dict[str, Any] = {"fields": names} if names else {}
    if reason:
        details["reason"] = reason
    return record_event(
        action=action,
        actor=request.user,
        obj=obj,
        deal=deal,
        details=details or None,
    )


def records_access(
    action: AuditAction,
    *,
    object_type: str,
    id_kwarg: str = "pk",
    deal_kwarg: str | None = None,
) -> Callable[[View], View]:
    """Decorate a view whose URL carries the object's id; successful answers are recorded.

    ``object_type`` is the ``app_label.model`` of the object; ``id_kwarg`` and ``deal_kwarg``
    name the URL keyword arguments holding its id and its deal's id.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                record_event(
                    action=action,
                    actor=request.user,
                    object_type=object_type,
                    object_id=kwargs.get(id_kwarg, ""),
                    deal=kwargs.get(deal_kwarg) if deal_kwarg else None,
                )
            return response

        return wrapper

    return decorator
