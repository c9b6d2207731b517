"""Webhooks (issue 18): endpoints added by compliance (step-up, the secret shown once),
deliveries written in the event's transaction, sent to a real HTTP server on loopback, signed
in the Standard Webhooks manner (checked with the library's verifier), retried with backoff,
every attempt logged, replayed from the deliveries page; no personal data in a body; only
http(s) and, in production, no private address."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from api.webhook_models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from api.webhooks import endpoint_create, sweep
from customers.choices import Tier
from tests.factories import CustomerFactory
from tests.support.mfa import age_second_factor, enrol_totp, totp_code
from tests.support.world import tasks_in_process
from tests.transfers.conftest import make_deal
from transferdesk.trail import AuditAction, AuditEvent
from transfers import services
from transfers.choices import StageKind
from transfers.engine import run_stage

pytestmark = pytest.mark.django_db

LIST = "/api/webhooks/"
NEW = "/api/webhooks/new/"


class Receiver:
    """A real HTTP server on loopback, in a thread: keeps what it receives; answers 500 to the
    first ``failures`` requests, then 204."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                status = 500 if receiver.failures > 0 else 204
                receiver.failures -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def start(failures: int = 0) -> Receiver:
        made.append(Receiver(failures))
        return made[-1]

    yield start
    for each in made:
        each.close()


def add_endpoint(cast, url, organization=None, events=("stage.delivered",)):
    return endpoint_create(
        actor=cast.compliance,
        organization=organization or cast.buyer_org,
        url=url,
        description="Buyer CRM",
        event_types=list(events),
    )


def deliver_a_stage(cast, capture):
    """A deal of the seller with buyer A, one pseudonymised stage approved and run by the
    engine, in-process; the after-commit callbacks (the webhook's send) run too."""
    deal = make_deal(cast)
    for i in range(3):
        CustomerFactory(
            organization=cast.seller, full_name="Wang Xiaoming", email=f"w{i}@customer.example"
        )
    stage = services.stage_create(
        actor=cast.broker, deal=deal, name="First", kind=StageKind.PSEUDONYMISED,
        tier_scope=[Tier.GENERAL],
    )  # fmt: skip
    services.stage_submit(actor=cast.broker, stage=stage)
    services.stage_approve(actor=cast.compliance, stage=stage, note="ok")
    with tasks_in_process(), capture(execute=True):
        run_stage(stage.pk)
    stage.refresh_from_db()
    return deal, stage


def test_a_delivered_stage_reaches_the_endpoint_signed(
    cast, receiver, django_capture_on_commit_callbacks
):
    server = receiver()
    endpoint, secret = add_endpoint(cast, server.url)

    deal, stage = deliver_a_stage(cast, django_capture_on_commit_callbacks)

    assert len(server.received) == 1
    headers, body = server.received[0]
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "stage.delivered"
    assert payload["data"]["deal"] == str(deal.pk) and payload["data"]["stage"] == str(stage.pk)
    assert payload["data"]["links"]["deal"].endswith(f"/api/v1/deals/{deal.pk}/")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert headers["webhook-id"] == delivery.message_id
    assert delivery.status == DeliveryStatus.DELIVERED
    attempt = delivery.attempts.get()
    assert attempt.status_code == 204 and attempt.error == ""
    # Ids and links only: no customer's name or address, in the body or anywhere it is kept.
    for text in (body.decode(), delivery.body):
        assert "Wang" not in text and "customer.example" not in text
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(body.replace(b"stage", b"stagX"), headers)


def test_only_subscribed_active_endpoints_of_the_parties_get_a_delivery(
    cast, receiver, django_capture_on_commit_callbacks
):
    server = receiver()
    add_endpoint(cast, server.url, events=["deal.cancelled"])  # not subscribed
    add_endpoint(cast, server.url, organization=cast.other_buyer_org)  # not a party
    disabled, _secret = add_endpoint(cast, server.url)
    disabled.active = False
    disabled.save()

    deliver_a_stage(cast, django_capture_on_commit_callbacks)

    assert server.received == [] and not WebhookDelivery.objects.exists()


@override_settings(WEBHOOK_RETRY_DELAYS=[60, 300])
def test_a_failing_endpoint_is_retried_with_backoff_then_delivered(
    cast, receiver, django_capture_on_commit_callbacks
):
    server = receiver(failures=1)
    endpoint, secret = add_endpoint(cast, server.url)

    deliver_a_stage(cast, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.PENDING and delivery.tries == 1
    first = delivery.attempts.get()
    assert (first.status_code, first.error) == (500, "HTTP 500")
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=50)
    with tasks_in_process():
        assert sweep() == 0  # not due yet
        WebhookDelivery.objects.update(next_attempt_at=timezone.now())  # the minute has passed
        assert sweep() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.tries == 2
    assert [a.status_code for a in delivery.attempts.order_by("started_at", "pk")] == [500, 204]
    # The same message id both times, each attempt signed anew.
    assert {headers["webhook-id"] for headers, _body in server.received} == {delivery.message_id}
    assert all(Webhook(secret).verify(body, headers) for headers, body in server.received)


@override_settings(WEBHOOK_RETRY_DELAYS=[0])
def test_a_delivery_fails_after_its_last_retry_and_a_replay_from_the_page_sends_it_again(
    cast, client, receiver, django_capture_on_commit_callbacks
):
    server = receiver(failures=2)
    endpoint, secret = add_endpoint(cast, server.url)
    deliver_a_stage(cast, django_capture_on_commit_callbacks)
    with tasks_in_process():
        sweep()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts.count() == 2
    client.force_login(cast.compliance)
    page = client.get(reverse("api:webhook_deliveries", args=[endpoint.pk]))
    assert page.status_code == 200 and delivery.message_id in page.text
    assert "HTTP 500" in page.text

    with tasks_in_process(), django_capture_on_commit_callbacks(execute=True):
        replayed = client.post(reverse("api:webhook_replay", args=[delivery.pk]))

    assert replayed.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    last = delivery.attempts.order_by("-started_at", "-pk").first()
    assert last.replay and last.status_code == 204
    assert len(server.received) == 3
    Webhook(secret).verify(server.received[-1][1], server.received[-1][0])
    event = AuditEvent.objects.get(action=AuditAction.WEBHOOK_REPLAYED)
    assert (event.actor, event.object_id) == (cast.compliance, str(delivery.pk))


def test_an_unreachable_endpoint_is_logged_without_a_status(
    cast, receiver, django_capture_on_commit_callbacks
):
    server = receiver()
    url = server.url
    server.close()  # nobody listens there any more
    add_endpoint(cast, url)

    deliver_a_stage(cast, django_capture_on_commit_callbacks)

    attempt = WebhookDelivery.objects.get().attempts.get()
    assert attempt.status_code is None and "ConnectionError" in attempt.error


def test_other_events_write_deliveries_with_ids_only(cast, django_capture_on_commit_callbacks):
    from audits.retention import deal_destroy
    from transfers.requests import request_create

    deal = make_deal(cast)
    customer = CustomerFactory(organization=cast.seller, full_name="Li Na", email="li@x.example")
    add_endpoint(cast, "http://127.0.0.1:9/", organization=cast.seller,
                 events=["request.received", "deal.cancelled"])  # fmt: skip
    add_endpoint(cast, "http://127.0.0.1:9/", events=["deal.cancelled"])

    dsr = request_create(customer=customer, deal=deal, kind="access", source="email")
    deal_destroy(actor=cast.compliance, deal=deal, reason="cancelled")

    bodies = {d.event_type: json.loads(d.body) for d in WebhookDelivery.objects.all()}
    assert WebhookDelivery.objects.filter(event_type="deal.cancelled").count() == 2
    assert bodies["request.received"]["data"]["request"] == str(dsr.pk)
    assert bodies["deal.cancelled"]["data"]["deal"] == str(deal.pk)
    for delivery in WebhookDelivery.objects.all():
        assert "Li Na" not in delivery.body and "x.example" not in delivery.body


def test_no_event_no_delivery_when_the_event_is_rolled_back(cast):
    from django.db import transaction

    from transfers.events import deal_cancelled

    deal = make_deal(cast)
    add_endpoint(cast, "http://127.0.0.1:9/", events=["deal.cancelled"])
    with pytest.raises(RuntimeError), transaction.atomic():
        deal_cancelled.send(sender=None, deal_id=deal.pk)
        assert WebhookDelivery.objects.count() == 1
        raise RuntimeError
    assert not WebhookDelivery.objects.exists()


# --- The pages -------------------------------------------------------------------------------


def form(cast, **changes):
    return {
        "organization": cast.buyer_org.pk,
        "url": "https://crm.buyer.example/hooks",
        "description": "Buyer CRM",
        "event_types": ["stage.delivered", "followup.created"],
        **changes,
    }


def test_compliance_adds_an_endpoint_and_sees_the_secret_once(client, cast):
    client.force_login(cast.compliance)

    created = client.post(NEW, form(cast))

    assert created.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    secret = created.context["secret"]
    assert secret.startswith("whsec_") and secret in created.text
    assert "no-store" in created["Cache-Control"]
    assert secret not in endpoint.sealed_secret  # sealed, not kept in clear
    assert endpoint.event_types == ["followup.created", "stage.delivered"]
    listed = client.get(LIST)
    assert endpoint.url in listed.text and secret not in listed.text
    event = AuditEvent.objects.get(action=AuditAction.WEBHOOK_CREATED)
    assert (event.actor, event.object_id) == (cast.compliance, str(endpoint.pk))


def test_adding_an_endpoint_with_a_stale_factor_asks_for_it_first(client, cast):
    enrol_totp(cast.compliance)
    client.force_login(cast.compliance)
    session = client.session
    age_second_factor(session, 11 * 60)
    session.save()

    asked = client.post(NEW, form(cast))

    assert asked.status_code == 302 and asked["Location"].startswith(reverse("mfa_reauthenticate"))
    assert not WebhookEndpoint.objects.exists()
    shown = client.post(asked["Location"], {"code": totp_code(cast.compliance)})
    assert shown.status_code == 200 and WebhookEndpoint.objects.count() == 1


def test_disabling_is_audited_and_stops_deliveries(client, cast):
    endpoint, _secret = add_endpoint(cast, "http://127.0.0.1:9/")
    client.force_login(cast.compliance)

    assert client.post(reverse("api:webhook_disable", args=[endpoint.pk])).status_code == 302
    assert client.post(reverse("api:webhook_disable", args=[endpoint.pk])).status_code == 302

    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at is not None
    assert AuditEvent.objects.filter(action=AuditAction.WEBHOOK_DISABLED).count() == 1


def test_an_administrator_manages_webhooks_too(client, cast):
    client.force_login(cast.admin)
    assert client.get(LIST).status_code == 200
    assert client.post(NEW, form(cast)).status_code == 200


@pytest.mark.parametrize("actor", ["broker", "buyer", "other_buyer"])
def test_other_people_may_not_see_add_disable_or_replay(client, cast, actor):
    endpoint, _secret = add_endpoint(cast, "http://127.0.0.1:9/")
    client.force_login(getattr(cast, actor))
    assert client.get(LIST).status_code == 403
    assert client.post(NEW, form(cast)).status_code == 403
    assert client.post(reverse("api:webhook_disable", args=[endpoint.pk])).status_code == 403
    assert client.get(reverse("api:webhook_deliveries", args=[endpoint.pk])).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.active and WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": "ftp://crm.buyer.example/"}, "must start with https://"),
        ({"url": "javascript:alert(1)"}, "Enter a valid URL."),
        ({"url": "https://user:pw@crm.buyer.example/"}, "user name or password"),
        ({"url": "https://" + "a" * 600 + ".example/"}, "at most 500 characters"),
        ({"event_types": ["stage.delivered", "everything"]}, "Choose events from the list."),
        ({"event_types": []}, "This field is required."),
        ({"organization": "999999"}, "Choose an organisation from the list."),
        ({"description": "<script>alert(1)</script>" * 10}, "at most 100 characters"),
    ],
)
def test_hostile_input_is_refused_with_a_message_and_nothing_is_saved(
    client, cast, changes, message
):
    client.force_login(cast.compliance)
    refused = client.post(NEW, form(cast, **changes))
    assert refused.status_code == 400
    assert message in refused.text
    assert "<script>alert" not in refused.text
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_is_for_a_seller_or_a_buyer(client, cast):
    from customers.choices import OrganizationKind
    from customers.models import Organization

    other = Organization.objects.exclude(kind__in=["seller", "buyer"]).first()
    if other is None:
        other = Organization.objects.create(legal_name="Advisers", kind=OrganizationKind.ADVISER)
    client.force_login(cast.compliance)
    assert client.post(NEW, form(cast, organization=other.pk)).status_code == 400
    assert not WebhookEndpoint.objects.exists()


@override_settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://0.0.0.0/",
    ],
)
def test_outside_development_private_addresses_are_refused(client, cast, url):
    client.force_login(cast.compliance)
    refused = client.post(NEW, form(cast, url=url))
    assert refused.status_code == 400
    assert "private or local network" in refused.text
    assert not WebhookEndpoint.objects.exists()


def test_an_endpoint_saved_then_forbidden_is_not_contacted(
    cast, receiver, django_capture_on_commit_callbacks
):
    """The address is checked again before every attempt (a setting changed, a name that
    now resolves elsewhere)."""
    server = receiver()
    add_endpoint(cast, server.url)
    with override_settings(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False):
        deliver_a_stage(cast, django_capture_on_commit_callbacks)
    assert server.received == []
    attempt = WebhookDelivery.objects.get().attempts.get()
    assert attempt.status_code is None and "private or local network" in attempt.error


def test_follow_ups_created_and_due_are_told_to_the_buyer(
    cast, receiver, django_capture_on_commit_callbacks
):
    from transfers.portal_services import followup_create, followups_remind

    server = receiver()
    _endpoint, secret = add_endpoint(cast, server.url, events=["followup.created", "followup.due"])
    deal, stage = deliver_a_stage(cast, django_capture_on_commit_callbacks)
    item = stage.items.order_by("pk").first()

    with tasks_in_process(), django_capture_on_commit_callbacks(execute=True):
        task = followup_create(item=item, kind="update", reason="correction", due_days=1)
    with tasks_in_process(), django_capture_on_commit_callbacks(execute=True):
        followups_remind()
        followups_remind()  # once per task

    payloads = [Webhook(secret).verify(body, headers) for headers, body in server.received]
    assert [p["type"] for p in payloads] == ["followup.created", "followup.due"]
    assert payloads[0]["data"]["tasks"] == [task.pk] and payloads[0]["data"]["deal"] == str(deal.pk)
    assert payloads[1]["data"]["task"] == task.pk


def test_the_sweeper_is_on_the_schedule_and_a_worker_knows_the_tasks(settings):
    from transferdesk.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["api-webhooks-sweep"]
    assert entry["options"] == {"queue": "maintenance"}
    app.loader.import_default_modules()  # what a worker does at start
    assert {entry["task"], "api.webhook_tasks.webhook_deliver"} <= set(app.tasks)


def test_the_verification_snippet_of_the_docs_accepts_a_delivery_and_refuses_a_forgery(
    cast, receiver, django_capture_on_commit_callbacks
):
    import re
    from pathlib import Path

    from django.conf import settings

    docs = (Path(settings.BASE_DIR) / "docs" / "api.md").read_text()
    section = docs.split("## Webhooks", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    server = receiver()
    _endpoint, secret = add_endpoint(cast, server.url)
    deliver_a_stage(cast, django_capture_on_commit_callbacks)
    headers, body = server.received[0]

    namespace: dict = {}
    exec(snippet.replace('"whsec_..."', repr(secret)), namespace)  # noqa: S102 (our own docs)

    assert namespace["handle"](body, headers)["type"] == "stage.delivered"
    assert namespace["handle"](body + b" ", headers) is None


def test_a_key_rotation_seals_the_secrets_again_and_the_old_key_can_go(cast, settings):
    import base64
    import os

    from django.core.management import call_command

    from api.webhooks import signed_headers, unseal_secret

    def key() -> str:
        return base64.urlsafe_b64encode(os.urandom(32)).decode()

    settings.TRANSFERDESK_MASTER_KEYS = k1 = f"k1:{key()}"
    endpoint, secret = add_endpoint(cast, "http://127.0.0.1:9/")
    assert endpoint.sealed_secret.startswith("tdwh1:k1:")
    settings.TRANSFERDESK_MASTER_KEYS = f"k2:{key()},{k1}"

    call_command("rotate_keys", stdout=open(os.devnull, "w"))  # noqa: SIM115

    endpoint.refresh_from_db()
    assert endpoint.sealed_secret.startswith("tdwh1:k2:")
    settings.TRANSFERDESK_MASTER_KEYS = settings.TRANSFERDESK_MASTER_KEYS.split(",")[0]
    assert unseal_secret(endpoint.sealed_secret) == secret
    headers = signed_headers(unseal_secret(endpoint.sealed_secret), "msg_1", '{"a":1}')
    Webhook(secret).verify('{"a":1}', headers)
