"""The hearing store: cases, hearings, recordings, speakers, hotwords, segments, edits, jobs, accounts' case
memberships, the audit chain, the record's sign-off (steps, sealed parts, correction requests), courtroom
profiles, case rosters, log notes and a case's voices, in DuckDB.

Modules, each importing only those above it (the store's own modules named on the right):

    status      a hearing's status, its labels, the one transition function,    nothing of ours
                the sign-off steps each status allows
    index       the keyword index: postings, analysis, BM25 statistics          nothing of ours
    audit       the audit chain: Actor, append, verify, rows, action names      nothing of ours
    records     frozen records, ROLES, the errors, row mapping                  status
    migrations  the schema, one version at a time                               index
    db          the file: connections, write lock, idle close, migrate on open  index, migrations, records
    members     case membership rows (who may see a case), on a connection      audit
    cases       cases, hearings, status changes (`advance`), hotwords, the      audit, db, members, records, status
                lock guard (`require_unlocked`), sign-off history rows
    courtrooms  courtroom profiles (a seat and role per channel), case        audit, cases, records
                rosters, the roster's naming rule (`roster_speaker_names`)    (and workbench.speech.seats)
    segments    transcripts saved (speakers' seats, roles and roster names    audit, cases, courtrooms, index,
                filled), segments, edits (batched), speakers                  records, status
    desk        the review desk's reads, split and merge, "checked up to here"  audit, cases, index, records, segments,
                                                                                status (and workbench.desk: text work)
    signoff     check, approve, lock, reopen; sealed parts; correction          audit, cases, records, segments,
                requests (the one edit of a locked record); RECORD_ACTIONS,     status (and workbench.display)
                `record_head`, `record_changes_since`, `issued_export`
    notes       a hearing's log notes: stage marks, timed notes, recesses       audit, cases, records
    voices      names proposed for a hearing's voices from the same case's      audit, segments, records
                other hearings (mean CAM++ embeddings), accepted or declined
    recordings  audio files by content hash, their rows                         db, records
    store       `Store`: all of the above, the whole-hearing reads, audit       audit, cases, courtrooms, desk,
                `record`/`audit_rows`/`verify_audit`                            notes, recordings, signoff, voices
    query       the query language, hits, snippets (no database)                index
    search      BM25 ranking of a query over a Store (sealed parts left out     index, query, signoff, store
                on request); index upkeep
    jobs        the processing queue in the jobs table; uploads                 audit, records, status, store

Every write that changes a record takes the `Actor` who makes it and appends its audit row in the same
transaction; who may make it is decided above the store (`workbench.accounts.Access`). Every write that changes
a hearing's record refuses a locked one (`Locked`), inside its transaction: the lock holds whoever calls.

`from workbench.store import Store, NotFound, ...` resolves on first use (below), so importing a light
module (`workbench.store.status`, `workbench.store.index`) does not open the whole store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.store.records import ROLES as ROLES
    from workbench.store.records import Case as Case
    from workbench.store.records import Conflict as Conflict
    from workbench.store.records import CorrectionRequest as CorrectionRequest
    from workbench.store.records import Edit as Edit
    from workbench.store.records import Hearing as Hearing
    from workbench.store.records import Locked as Locked
    from workbench.store.records import NotFound as NotFound
    from workbench.store.records import Recording as Recording
    from workbench.store.records import SealedPart as SealedPart
    from workbench.store.records import SignoffStep as SignoffStep
    from workbench.store.records import Speaker as Speaker
    from workbench.store.records import StaleEdit as StaleEdit
    from workbench.store.records import StoredSegment as StoredSegment
    from workbench.store.records import StoreError as StoreError
    from workbench.store.records import StoreLocked as StoreLocked
    from workbench.store.records import WrongState as WrongState
    from workbench.store.store import Store as Store

_HOMES = {
    "workbench.store.records": (
        "ROLES", "Case", "Conflict", "CorrectionRequest", "Edit", "Hearing", "Locked", "NotFound", "Recording",
        "SealedPart", "SignoffStep", "Speaker", "StaleEdit", "StoredSegment", "StoreError", "StoreLocked", "WrongState",
    ),
    "workbench.store.store": ("Store",),
}  # fmt: skip
_HOME = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """The re-exported names, loaded with their module the first time one is asked for (PEP 562)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
