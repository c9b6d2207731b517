"""Errors of the crypto layer.

Their messages name places (model, field, primary key, key id), never values: an exception
message ends up in logs, error pages and bug reports.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class of every error the crypto layer raises on purpose."""


class DecryptionError(CryptoError):
    """A ciphertext could not be decrypted: it was moved, altered, or its key is wrong.

    Raised instead of returning the ciphertext or an empty value, so that a failure is never
    mistaken for data.
    """


class DataKeyDestroyed(DecryptionError):
    """The data key was destroyed (crypto-shredding): its records are unreadable for good."""


class MissingMasterKey(CryptoError):
    """A data key is wrapped under a master key id that the configured keyring lacks."""


class PlaintextInQuery(CryptoError):
    """Plaintext reached an encrypted column outside a model save (a filter or an update).

    Encrypted columns can only be written through a model instance, because the associated
    data needs the row's primary key; and they cannot be searched (use the blind index).
    """
