"""The journal: an append-only, hash-chained record of every operator action and every
escalation level change (who, when, what, previous hash). ``lagezentrum journal verify`` checks
the chain."""

from situation_api.journal.chain import GENESIS, JournalEntry, Verdict, seal, verify
from situation_api.journal.store import (
    JournalStore,
    MemoryJournal,
    PostgresJournal,
    entries,
)

__all__ = [
    "GENESIS",
    "JournalEntry",
    "JournalStore",
    "MemoryJournal",
    "PostgresJournal",
    "Verdict",
    "entries",
    "seal",
    "verify",
]
