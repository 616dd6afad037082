"""Passwords: argon2id (argon2-cffi's RFC 9106 low-memory profile), hashed off the event loop.

A hash costs ~0.1 s of CPU and 64 MiB, so only a few run at once per worker: a burst of sign-ins
waits its turn instead of starving searches of both cores or the worker of memory.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tomehub.errors import BadInput


class Passwords:
    """Checks, hashes and verifies passwords."""

    def __init__(self, *, min_length: int, max_length: int, concurrency: int) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self._hasher = PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency)
        self._decoy: str | None = None

    def check_new(self, password: str) -> None:
        """Raises BadInput for a password too short or too long to be accepted."""
        if len(password) < self.min_length:
            raise BadInput(f"The password must be at least {self.min_length} characters long.")
        if len(password) > self.max_length:
            raise BadInput(f"The password must be at most {self.max_length} characters long.")

    async def hash(self, password: str) -> str:
        """Returns the argon2id hash (PHC string) of ``password``."""
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Returns whether ``password`` matches; with no hash (an unknown user) it spends the same
        time on a decoy, so the answer's timing does not tell which user names exist."""
        if len(password) > self.max_length:
            return False
        if password_hash is None:
            if self._decoy is None:
                self._decoy = await self.hash("decoy password that matches nothing")
            await self._check(self._decoy, password)
            return False
        return await self._check(password_hash, password)

    async def _check(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            try:
                return await asyncio.to_thread(self._hasher.verify, password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Returns whether the hash was made with weaker parameters than today's."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return False
