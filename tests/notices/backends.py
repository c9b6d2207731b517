"""A test e-mail backend whose "server" refuses some recipients, as a real SMTP server does."""

from __future__ import annotations

import smtplib

from django.core.mail.backends.locmem import EmailBackend

#: Recipients whose address ends with one of these local-part suffixes are refused.
REFUSED_SUFFIXES = ("7@", "3@")


class RefusingBackend(EmailBackend):
    """locmem, except that it raises ``SMTPRecipientsRefused`` (550) for some addresses."""

    def send_messages(self, messages):
        for message in messages:
            for address in message.recipients():
                if any(s in address for s in REFUSED_SUFFIXES):
                    raise smtplib.SMTPRecipientsRefused(
                        {address: (550, b"5.1.1 mailbox unavailable")}
                    )
        return super().send_messages(messages)


def refused(address: str) -> bool:
    return any(s in address for s in REFUSED_SUFFIXES)
