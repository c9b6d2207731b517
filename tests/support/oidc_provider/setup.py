"""``python -m tests.support.oidc_provider.setup``: migrate the provider's database and create
its users and client from ``setup.json`` in its work folder (run by ``IdentityProvider.start``)."""

from __future__ import annotations

import json
import os

import django


def main() -> None:
    django.setup()
    from allauth.account.models import EmailAddress
    from allauth.idp.oidc.models import Client
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from .settings import WORKDIR

    call_command("migrate", verbosity=0)
    setup = json.loads((WORKDIR / "setup.json").read_text())
    for spec in setup["users"]:
        user = User.objects.create_user(spec["username"], spec["email"], setup["password"])
        EmailAddress.objects.create(
            user=user, email=spec["email"], verified=spec["verified"], primary=True
        )
        names = [f"amr:{v}" for v in spec["amr"]] + ([f"acr:{spec['acr']}"] if spec["acr"] else [])
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in names])
    spec = setup["client"]
    client = Client(
        id=spec["id"],
        name="TransferDesk",
        scopes="openid\nprofile\nemail",
        redirect_uris="\n".join(spec["redirect_uris"]),
        skip_consent=True,
    )
    client.set_secret(spec["secret"])
    client.save()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.support.oidc_provider.settings")
    main()
