"""Sealing free text at rest: Fernet encryption under keys from ``CHECKIN_ENCRYPTION_KEY`` (DESIGN §7).

The variable holds one or more comma-separated Fernet keys. The first seals, every one of them opens
(``MultiFernet``), which is how a key is rotated: put the new key first, restart, run ``checkin rekey``, then
drop the old key. Without the variable text is stored as written.

A stored value says how it is stored, so one column can hold both kinds and a key can be set on a database
that already has plain rows: ``fernet:<token>`` is sealed; anything else is plain. Plain text that happens to
begin with one of the two markers is stored behind ``plain:`` so it cannot be mistaken for a sealed value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_ENV = "CHECKIN_ENCRYPTION_KEY"
SEALED = "fernet:"
ESCAPED = "plain:"
GENERATE_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


class SealingKeyError(ValueError):
    """``CHECKIN_ENCRYPTION_KEY`` is not a list of Fernet keys; the message never repeats a key."""


class UnreadableSealError(ValueError):
    """A stored value was sealed with a key the configuration no longer holds (or was altered)."""

    def __init__(self) -> None:
        super().__init__(
            f"a value was sealed with a key that {KEY_ENV} does not hold; set the key it was written with "
            "(after the current one) and run `checkin rekey`"
        )


class Sealer:
    """Seals and opens stored text; with no keys it stores text as written and still opens nothing sealed."""

    __slots__ = ("_current", "_keys")

    def __init__(self, keys: Sequence[str | bytes] = ()) -> None:
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except ValueError:  # also binascii.Error, a ValueError
                raise SealingKeyError(
                    f"{KEY_ENV}: key {position} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded "
                    f"bytes); generate one with: {GENERATE_KEY}"
                ) from None
        self._current = fernets[0] if fernets else None
        self._keys = MultiFernet(fernets) if fernets else None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Sealer:
        """The sealer ``CHECKIN_ENCRYPTION_KEY`` describes; unset or blank means plain storage."""
        raw = (os.environ if environ is None else environ).get(KEY_ENV, "")
        if not raw.strip():
            return cls()
        keys = [key.strip() for key in raw.split(",")]
        if not all(keys):
            raise SealingKeyError(f"{KEY_ENV}: an empty key between commas; list keys as NEW,OLD")
        return cls(keys)

    @property
    def enabled(self) -> bool:
        """True when text is sealed (a key is configured)."""
        return self._keys is not None

    def seal(self, text: str) -> str:
        """The stored form of ``text``: sealed under the first key, or plain (escaped if it looks sealed)."""
        if self._keys is None:
            return ESCAPED + text if text.startswith((SEALED, ESCAPED)) else text
        return SEALED + self._keys.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, stored: str) -> str:
        """The text behind a stored value; raises ``UnreadableSealError`` when no configured key opens it."""
        if stored.startswith(ESCAPED):
            return stored.removeprefix(ESCAPED)
        if not stored.startswith(SEALED):
            return stored
        if self._keys is None:
            raise UnreadableSealError()
        try:
            return self._keys.decrypt(stored.removeprefix(SEALED)).decode("utf-8")
        except InvalidToken:
            raise UnreadableSealError() from None

    def reseal(self, stored: str) -> str | None:
        """The value sealed under the current first key, or ``None`` when it already is (or no key is set).

        Plain values are sealed; values sealed under an older key are re-encrypted (``MultiFernet.rotate``).
        Raises ``UnreadableSealError`` for a value no configured key opens.
        """
        if self._keys is None or self._current is None:
            return None
        if not stored.startswith(SEALED):
            return self.seal(self.open(stored))
        token = stored.removeprefix(SEALED)
        try:
            self._current.decrypt(token)
            return None
        except InvalidToken:
            pass
        try:
            return SEALED + self._keys.rotate(token).decode("ascii")
        except InvalidToken:
            raise UnreadableSealError() from None


#: Stores text as written; the default wherever no key was configured.
PLAIN = Sealer()
