"""Report use cases: request one as a job, generate it (the task calls this), and render one
for the ``audit_report`` command. Each generated report writes REPORT_GENERATED."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.languages import user_language
from transferdesk import jobs
from transferdesk.jobs import job_create, job_fail, job_progress, job_start, job_succeed
from transferdesk.trail import AuditAction, record_event

from ..models import ReportKind, ReportRun
from . import Rendered, render_report
from .common import ReportParams, resolve_deal

#: Where report files live: under MEDIA_ROOT, served only by the compliance download view.
REPORTS_DIR = "reports"


def report_path(run: ReportRun) -> Path:
    return Path(settings.MEDIA_ROOT) / run.file


def _generated_by(actor: Any) -> str:
    if actor is None:
        return "system"
    name = actor.get_full_name()
    return f"{name} ({actor.get_username()})" if name else actor.get_username()


def _report_language(run: ReportRun) -> str:
    """The language of the person who asked, read from their row now (they may have switched
    since); someone who never chose one gets the page language they asked from, then the
    site's default."""
    if run.requested_by is not None and run.requested_by.language:
        return user_language(run.requested_by)
    return run.params.get("language") or settings.LANGUAGE_CODE


def _record(*, actor: Any, kind: str, params: ReportParams, rendered: Rendered, run: Any) -> None:
    deal = resolve_deal(params.deal) if params.deal else None
    record_event(
        action=AuditAction.REPORT_GENERATED,
        actor=actor,
        object_type="audits.reportrun" if run is not None else "",
        object_id=run.pk if run is not None else "",
        deal=deal,
        details={
            "kind": str(kind),
            "rows": rendered.rows,
            "pages": rendered.pages,
            "chain_head_seq": rendered.chain_head_seq,
            "campaign": params.campaign,
            "date_from": params.date_from.isoformat() if params.date_from else "",
            "date_to": params.date_to.isoformat() if params.date_to else "",
        },
    )


@transaction.atomic(durable=True)
def report_request(
    *, actor: Any, kind: str, params: ReportParams, language: str | None = None
) -> ReportRun:
    """Create the report's row and job, and enqueue its generation once this commits."""
    kind = ReportKind(kind)
    # Fail now, on the page, rather than in the worker: the deal or campaign must exist.
    if kind in (ReportKind.DEAL_AUDIT, ReportKind.PROCESSING) and not params.deal:
        raise ValidationError(_("Name the deal (its reference)."))
    if kind == ReportKind.ACCESS_REVIEW and not params.campaign:
        raise ValidationError(_("Choose the access-review campaign."))
    if params.deal:
        resolve_deal(params.deal)
    data = params.as_json()
    data["language"] = language or translation.get_language() or settings.LANGUAGE_CODE
    job = job_create(kind=f"report_{kind.value}", actor=actor)
    run = ReportRun.objects.create(kind=kind, params=data, job=job, requested_by=actor)
    transaction.on_commit(
        lambda: jobs.enqueue("audits.tasks.report_generate", str(run.pk), fail_job=job.pk)
    )
    return run


def report_generate(*, run_id: uuid.UUID | str) -> ReportRun:
    """Render a requested report into MEDIA_ROOT/reports and mark its job done.

    Idempotent: a redelivered task finds the file recorded and does nothing. The PDF is
    written to a temporary name and renamed, so a worker killed mid-way leaves no half file
    behind a download link.
    """
    run = ReportRun.objects.select_related("requested_by").get(pk=run_id)
    if run.file:
        return run
    params = ReportParams.from_json(run.params)
    job_id = run.job_id
    if job_id:
        job_start(job_id=job_id)
    directory = Path(settings.MEDIA_ROOT) / REPORTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{run.pk}.pdf"
    partial = directory / f"{run.pk}.pdf.part"
    # The failure reasons too are for that user (the job page shows them as stored).
    with translation.override(_report_language(run)):
        try:
            rendered = render_report(
                kind=run.kind,
                params=params,
                target=str(partial),
                generated_by=_generated_by(run.requested_by),
                progress=(lambda done: job_progress(job_id=job_id, done=done)) if job_id else None,
            )
        except ValidationError as error:
            partial.unlink(missing_ok=True)
            if job_id:
                job_fail(job_id=job_id, error=" ".join(error.messages))
            raise
        except Exception:
            partial.unlink(missing_ok=True)
            if job_id:
                job_fail(job_id=job_id, error=_("The report could not be generated; see the logs."))
            raise
    partial.replace(final)
    data = final.read_bytes()
    with transaction.atomic():
        ReportRun.objects.filter(pk=run.pk).update(
            file=f"{REPORTS_DIR}/{final.name}",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            rows=rendered.rows,
            chain_head_seq=rendered.chain_head_seq,
            chain_head_mac=rendered.chain_head_mac,
            finished_at=timezone.now(),
        )
        _record(actor=run.requested_by, kind=run.kind, params=params, rendered=rendered, run=run)
        if job_id:
            job_succeed(
                job_id=job_id,
                result={
                    "download_url": reverse("audits:report_download", args=[run.pk]),
                    "pages": rendered.pages,
                    "rows": rendered.rows,
                },
            )
    run.refresh_from_db()
    return run


def report_write(
    *, actor: Any, kind: str, params: ReportParams, target: str | IO[bytes]
) -> Rendered:
    """Render a report straight to ``target`` (the command) and record that it was generated."""
    # The command's actor: in their language if they chose one, else as the command runs.
    chosen = getattr(actor, "language", "")
    with translation.override(user_language(actor)) if chosen else contextlib.nullcontext():
        rendered = render_report(
            kind=kind, params=params, target=target, generated_by=_generated_by(actor)
        )
    with transaction.atomic():
        _record(actor=actor, kind=kind, params=params, rendered=rendered, run=None)
    return rendered
