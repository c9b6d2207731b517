"""What the compliance dashboard shows, computed on the server (charts are plain SVG: no
chart library, no CDN, nothing inline that the CSP would block)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from transferdesk.trail import AuditAction, AuditEvent, chain_head

from .models import AccessReviewCampaign, CampaignStatus, ReviewDecision

#: Colours of the chart series (SVG presentation attributes; the palette of app.css).
PALETTE = ["#1f6feb", "#198754", "#f59f00", "#d6336c", "#6f42c1", "#8b98ab"]
SERIES = 5  # the busiest actions get a colour each; the rest are "Other"
DAYS = 30
CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 720, 220, 36, 24, 10


@dataclass
class Bar:
    x: float
    width: float
    label: str
    title: str
    segments: list[dict[str, Any]] = field(default_factory=list)


def events_per_day(*, days: int = DAYS) -> dict[str, Any]:
    """Stacked bars of events per day by action over the last ``days`` days."""
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    since = datetime.combine(start, time.min, timezone.get_current_timezone())
    rows = (
        AuditEvent.objects.filter(time__gte=since)
        .annotate(day=TruncDate("time", tzinfo=timezone.get_current_timezone()))
        .values_list("day", "action")
        .annotate(n=Count("seq"))
    )
    per_day: dict[date, dict[str, int]] = defaultdict(dict)
    per_action: dict[str, int] = defaultdict(int)
    for day, action, n in rows:
        per_day[day][action] = n
        per_action[action] += n
    top = [a for a, _n in sorted(per_action.items(), key=lambda kv: -kv[1])[:SERIES]]
    labels = dict(AuditAction.choices)
    legend = [{"label": labels.get(a, a), "color": PALETTE[i]} for i, a in enumerate(top)]
    if len(per_action) > len(top):
        legend.append({"label": _("Other"), "color": PALETTE[-1]})
    peak = max((sum(d.values()) for d in per_day.values()), default=0)
    scale_max = _nice(peak)
    plot_w, plot_h = CHART_W - PAD_L, CHART_H - PAD_B - PAD_T
    step = plot_w / days
    bars = []
    for i in range(days):
        day = start + timedelta(days=i)
        counts = per_day.get(day, {})
        total = sum(counts.values())
        bar = Bar(
            x=round(PAD_L + i * step + step * 0.15, 1),
            width=round(step * 0.7, 1),
            label=day.strftime("%d") if i % 5 == 0 or i == days - 1 else "",
            title=f"{day.isoformat()}: {total}",
        )
        y = float(PAD_T + plot_h)
        series = [(counts.get(a, 0), PALETTE[k]) for k, a in enumerate(top)]
        series.append((total - sum(n for n, _c in series), PALETTE[-1]))
        for n, color in series:
            if not n:
                continue
            h = plot_h * n / scale_max
            y -= h
            bar.segments.append({"y": round(y, 1), "height": round(h, 1), "color": color})
        bars.append(bar)
    ticks = [
        {"value": v, "y": round(PAD_T + plot_h - plot_h * v / scale_max, 1)}
        for v in (0, scale_max // 2, scale_max)
    ]
    return {
        "total": sum(per_action.values()),
        "bars": bars,
        "legend": legend,
        "ticks": ticks,
        "width": CHART_W,
        "height": CHART_H,
        "plot_left": PAD_L,
        "plot_right": CHART_W,
        "baseline": PAD_T + plot_h,
        "label_y": CHART_H - 6,
        "start": start,
        "end": today,
    }


def _nice(peak: int) -> int:
    """A round axis maximum at or above ``peak`` (at least 2, so the half tick is whole)."""
    if peak <= 2:
        return 2
    magnitude = 10 ** (len(str(peak)) - 1)
    for step in (1, 2, 3, 4, 5, 6, 8, 10):
        top = step * magnitude
        if top >= peak:
            return top if top % 2 == 0 else top * 2
    return peak


def handover_progress() -> list[dict[str, Any]] | None:
    """Per deal: customers delivered of those planned, and stages delivered of those planned.
    None when the handover models are not installed (the page says so, never invents bars)."""
    try:
        deal_model = apps.get_model("transfers", "TransferDeal")
    except LookupError:
        return None
    delivered = Q(stages__status__in=["delivered", "acknowledged"])
    deals = (
        deal_model.objects.annotate(
            stage_count=Count("stages", distinct=True),
            stages_delivered=Count("stages", filter=delivered, distinct=True),
            done=Sum("stages__done"),
            total=Sum("stages__total"),
        )
        .filter(stage_count__gt=0)
        .order_by("reference")[:12]
    )
    rows = []
    for d in deals:
        percent = int(100 * (d.done or 0) / d.total) if d.total else 0
        if d.stage_count and d.stages_delivered == d.stage_count:
            percent = 100
        rows.append(
            {
                "reference": d.reference,
                "title": d.title,
                "stages": d.stage_count,
                "delivered": d.stages_delivered,
                "done": d.done or 0,
                "total": d.total or 0,
                "percent": percent,
                "bar": round(4.2 * percent, 1),  # px of a 420-wide track
            }
        )
    return rows


def _optional(app_label: str, model: str) -> Any:
    try:
        return apps.get_model(app_label, model)
    except LookupError:
        return None


def open_work() -> dict[str, Any]:
    """Counts of open data-subject requests, incidents and overdue buyer tasks; None for a
    feature this installation does not have yet."""
    now = timezone.now()
    out: dict[str, Any] = {
        "requests": None,
        "requests_overdue": None,
        "incidents": None,
        "incidents_serious": None,
        "tasks_overdue": None,
    }
    if (requests := _optional("transfers", "DataSubjectRequest")) is not None:
        pending = requests.objects.exclude(status__in=["fulfilled", "refused"])
        out["requests"] = pending.count()
        out["requests_overdue"] = pending.filter(due_at__lt=now).count()
    if (incidents := _optional("audits", "Incident")) is not None:
        open_ = incidents.objects.exclude(status="closed")
        out["incidents"] = open_.count()
        out["incidents_serious"] = open_.filter(severity__in=["high", "critical"]).count()
    if (tasks := _optional("transfers", "FollowUpTask")) is not None:
        out["tasks_overdue"] = tasks.objects.filter(status="open", due_at__lt=now).count()
    return out


def chain_status() -> dict[str, Any]:
    """The head to compare with printed copies, and the last verification alert if any."""
    head = chain_head()
    failure = (
        AuditEvent.objects.filter(action=AuditAction.CHAIN_VERIFICATION_FAILED)
        .order_by("-seq")
        .values("seq", "time", "details")
        .first()
    )
    return {"head": head, "failure": failure}


def reviews_summary() -> list[dict[str, Any]]:
    campaigns = (
        AccessReviewCampaign.objects.filter(status=CampaignStatus.OPEN)
        .annotate(
            total=Count("items"),
            pending=Count("items", filter=Q(items__decision=ReviewDecision.PENDING)),
        )
        .order_by("deadline")[:5]
    )
    return [
        {"campaign": c, "total": c.total, "pending": c.pending, "decided": c.total - c.pending}
        for c in campaigns
    ]
