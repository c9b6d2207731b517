"""The crypto layer: master keyring, per-record data keys, AES-GCM fields and blind indexes.

Everything that turns personal data into ciphertext (and back) lives here, so that the rest
of the project never handles a key or a nonce. Built on the ``cryptography`` library.
"""
