"""Signals for the outside world: things that happened on a deal that another organisation's
system may want to hear about (the api app turns them into webhook deliveries, api/webhooks.py).

Each is sent INSIDE the transaction that made the event, so a receiver that writes a row (an
outbox row) writes it if and only if the event commits. The api app sits above every other
layer and cannot be imported from here: these signals are the upward call. Arguments are ids
only, never a person's data.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A handover stage was delivered (``stage_id``, ``deal_id``).
stage_delivered = Signal()
#: Follow-up tasks were created on a deal (``deal_id``, ``task_ids``: the ids when known, a
#: bulk insert that skips duplicates does not return them; ``count``).
followup_created = Signal()
#: A follow-up task nears its deadline (``task_id``, ``deal_id``); sent once per task.
followup_due = Signal()
#: A data-subject request was registered (``request_id``, ``deal_id``).
request_received = Signal()
#: A deal was cancelled (``deal_id``).
deal_cancelled = Signal()
