"""The address of the person on the other end of a request, as far as it can be trusted.

Behind a TLS-terminating proxy every request arrives from the proxy's own address, so
``REMOTE_ADDR`` alone would make every user look like one client: one person's failed sign-ins
would lock everyone out, and the audit trail would record the proxy as "from where". The proxy
names the real client in ``X-Forwarded-For``, but anyone can send that header, so it is read only
when the request really comes from a proxy named in ``TRUSTED_PROXIES``, and then from the
right: each trusted proxy appends the address it saw, so the right-most address that is not
itself a trusted proxy is the first one no trusted party vouches against. Anything to its left
was written by the client and is ignored.

Every piece of code that needs the client's address (sign-in lock-out, rate limits, the audit
trail, the request id) asks :func:`client_ip`, so they all agree.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {entry!r} is not an address or a network (CIDR)."
            ) from None
    return tuple(networks)


def trusted_networks() -> tuple[Network, ...]:
    """The networks of ``TRUSTED_PROXIES``, parsed (and validated) once per value."""
    return _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket ("::ffff:192.0.2.1") is that IPv4 client.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted_proxy(value: str | None) -> bool:
    """True when ``value`` is an address inside one of ``TRUSTED_PROXIES``."""
    address = _address(value or "")
    return address is not None and any(address in net for net in trusted_networks())


def request_from_trusted_proxy(request: HttpRequest) -> bool:
    """True when the request's peer (``REMOTE_ADDR``) is one of the trusted proxies."""
    return is_trusted_proxy(request.META.get("REMOTE_ADDR"))


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or, when that is a trusted proxy, the right-most
    ``X-Forwarded-For`` address that is not itself a trusted proxy. None if there is none."""
    remote = _address(request.META.get("REMOTE_ADDR") or "")
    if remote is None:
        return None
    networks = trusted_networks()
    if not any(remote in net for net in networks):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # A hop a trusted proxy would never write: everything left of it is the client's
            # own say, so the last trusted hop is the best address there is.
            break
        if not any(address in net for net in networks):
            return str(address)
        remote = address
    # Every hop is a trusted proxy (or the header is missing or broken): the request started
    # inside the trusted network, at the left-most trusted address seen.
    return str(remote)
