from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_anonymous_visitor_of_root_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
