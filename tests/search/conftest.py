"""The chat tests' people and channel, for searching their messages."""

from tests.chat.conftest import alice, bob, carol, general

__all__ = ["alice", "bob", "carol", "general"]
