"""seed_demo gives a newcomer one sign-in per role, and can run again without duplicates."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import User
from customers.models import Organization


@pytest.mark.django_db
def test_seed_demo_creates_one_user_per_role_and_is_idempotent(capsys, client):
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert "password: transferdesk-demo" in first
    assert "(0 new)" in second
    users = {u.username: u for u in User.objects.all()}
    assert set(users) >= {"broker", "broker2", "compliance", "buyer", "buyer2", "admin"}
    assert users["buyer"].organization != users["buyer2"].organization
    assert users["buyer"].has_role("buyer") and users["compliance"].has_role("compliance")
    assert users["admin"].is_superuser
    assert Organization.objects.filter(slug="meridian", kind="seller").exists()
    response = client.post(
        "/accounts/login/", {"login": "compliance", "password": "transferdesk-demo"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
