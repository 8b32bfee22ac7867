"""The embedded store: one SQLite file (WAL) with FTS5 for text search.

The whole JSON document is kept as-is; the fields people filter and sort on are copied into
columns when a document is written. Several processes may share the file: writes take the lock
up front (``BEGIN IMMEDIATE``) and wait ``busy_timeout`` for it, after which the caller gets
``StoreUnavailable`` and backs off.

Search semantics follow the Elasticsearch adapter (``pipeline.store.elasticsearch``) so the
contract suite can hold both to one behaviour: English stemming (Porter), Lucene's English stop
words ignored, every remaining word required in the message or the explanation, timestamps
compared at millisecond precision (an ES ``date``), ties broken by item id.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.schema import dotted
from pipeline.sqlite_probe import write_and_read
from pipeline.sqlite_wal import open_shared_wal
from pipeline.store import (
    DECIDED_STATUSES,
    ConflictError,
    ItemQuery,
    NotFound,
    Page,
    Store,
    StoredDoc,
    StoreError,
    StoreUnavailable,
)

# Lucene's EnglishAnalyzer stop set, which the Elasticsearch ``english`` analyser drops too.
ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)

# SQLite primary result codes that mean "busy, or the disk/file is in trouble": retry later.
_RETRYABLE_CODES = {
    5: "database is busy",  # SQLITE_BUSY
    6: "table is locked",  # SQLITE_LOCKED
    10: "disk I/O error",  # SQLITE_IOERR
    13: "disk is full",  # SQLITE_FULL
    14: "cannot open the database file",  # SQLITE_CANTOPEN
    15: "locking protocol error",  # SQLITE_PROTOCOL
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    version INTEGER NOT NULL,
    ts_ms INTEGER,
    severity TEXT,
    category TEXT,
    school TEXT,
    status TEXT,
    source TEXT,
    score REAL
);
CREATE INDEX IF NOT EXISTS items_by_time ON items (ts_ms, id);
CREATE INDEX IF NOT EXISTS items_by_score ON items (score, ts_ms);
CREATE INDEX IF NOT EXISTS items_by_status ON items (status, ts_ms);
CREATE INDEX IF NOT EXISTS items_by_author ON items (json_extract(doc, '$.user.name'));
CREATE INDEX IF NOT EXISTS items_by_thread ON items (json_extract(doc, '$.threat.thread_id'));
CREATE INDEX IF NOT EXISTS items_by_tip_code ON items (json_extract(doc, '$.threat.tip.code'));
CREATE INDEX IF NOT EXISTS items_by_assignee ON items (json_extract(doc, '$.review.assignee'));
CREATE VIRTUAL TABLE IF NOT EXISTS items_text USING fts5(
    message, explanation, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS alerts (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    version INTEGER NOT NULL,
    item_id TEXT,
    status TEXT,
    ts_us INTEGER
);
CREATE INDEX IF NOT EXISTS alerts_by_item ON alerts (item_id);
CREATE INDEX IF NOT EXISTS alerts_by_status ON alerts (status);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (ts_us, id);
CREATE TABLE IF NOT EXISTS audit (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,
    item_id TEXT,
    ts_us INTEGER
);
CREATE INDEX IF NOT EXISTS audit_by_item ON audit (item_id, ts_us);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (ts_us, id);
"""


def fts_match_expression(text: str) -> str | None:
    """An FTS5 query requiring every word of ``text``; None when no word is left to require.

    Words are split out and quoted one by one, so quotes, ``*``, ``NEAR(``, ``OR`` or ``-`` typed
    by a user are plain words (or nothing), never FTS syntax, and each word is required on its
    own, as the Elasticsearch ``cross_fields``/``and`` query does."""
    words = [w for w in re.findall(r"\w+", text.lower()) if w not in ENGLISH_STOP_WORDS]
    return " AND ".join(f'"{w}"' for w in words) or None


def epoch(value: str | datetime | None, unit: int) -> int | None:
    """Whole ``unit``s (1_000 = ms, 1_000_000 = µs) since the epoch; naive times are UTC."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * unit + delta.microseconds * unit // 1_000_000


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge as an Elasticsearch partial update does it (``None`` is kept as a value)."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _item_id(doc: dict[str, Any], position: int) -> str:
    item_id = dotted(doc, "event.id")
    if not isinstance(item_id, str) or not item_id:
        raise StoreError(f"document #{position} has no event.id")
    return item_id


def _item_columns(doc: dict[str, Any]) -> tuple:
    return (
        epoch(doc.get("@timestamp"), 1_000),
        dotted(doc, "threat.severity"),
        dotted(doc, "threat.category"),
        dotted(doc, "labels.school"),
        dotted(doc, "review.status"),
        dotted(doc, "event.provider"),
        dotted(doc, "threat.score"),
    )


def _explanation_text(doc: dict[str, Any]) -> str:
    explanation = dotted(doc, "threat.explanation") or []
    return "\n".join(explanation) if isinstance(explanation, list) else str(explanation)


# The rank event.severity holds, which the Elasticsearch adapter sorts on.
_DECIDED = ", ".join("'" + status + "'" for status in DECIDED_STATUSES)
_BY_SEVERITY = "CASE severity WHEN 'P1' THEN 3 WHEN 'P2' THEN 2 WHEN 'P3' THEN 1 ELSE 0 END DESC, ts_ms DESC, id ASC"
_SORTS = {
    "newest": "ts_ms DESC, id ASC",
    "oldest": "ts_ms ASC, id ASC",
    "score": "score DESC, ts_ms DESC, id ASC",
    "severity": _BY_SEVERITY,
    # Decided last; no status (NULL IN ...) counts as undecided, as on Elasticsearch.
    "triage": f"CASE WHEN status IN ({_DECIDED}) THEN 1 ELSE 0 END, {_BY_SEVERITY}",
}

# Fields kept in their own columns, and fields read out of the JSON document (the expressions
# match the indexes in _SCHEMA exactly, so SQLite uses them; a store set up before they existed
# gets them from the next `threatline setup`, and answers the same without them, only slower).
_FILTER_COLUMNS = (("severity", "severity"), ("category", "category"), ("school", "school"),
                   ("status", "status"), ("source", "source"),
                   ("author", "json_extract(doc, '$.user.name')"),
                   ("thread", "json_extract(doc, '$.threat.thread_id')"),
                   ("tip_code", "json_extract(doc, '$.threat.tip.code')"),
                   ("assignee", "json_extract(doc, '$.review.assignee')"))


def _in(column: str, values: Sequence[str], params: list[Any]) -> str:
    params.extend(values)
    return f"{column} IN ({', '.join('?' * len(values))})"


def _scopes_clause(scopes: Sequence[Any], params: list[Any]) -> str:
    alternatives = []
    for scope in scopes:
        parts = [_in(column, list(values), params)
                 for column, values in (("category", scope.category), ("severity", scope.severity)) if values]
        alternatives.append(f"({' AND '.join(parts)})" if parts else "1")
    return f"({' OR '.join(alternatives)})"


class EmbeddedStore(Store):
    # Rows per read in search_audit / alerts_between (keyset pages, the lock is held per page).
    _page_size = 500

    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0):
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._db = open_shared_wal(self.path, busy_timeout_s)
            # Freed space is zeroed, so a purged item's text does not stay readable in the file;
            # explicit because not every SQLite build is compiled with SECURE_DELETE on.
            self._db.execute("PRAGMA secure_delete = ON")
        except sqlite3.Error as exc:
            raise self._translate(exc) from None

    # --- plumbing --------------------------------------------------------------------------

    def _translate(self, exc: sqlite3.Error) -> StoreError:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and (code & 0xFF) in _RETRYABLE_CODES:
            return StoreUnavailable(f"sqlite store {self.path}: {_RETRYABLE_CODES[code & 0xFF]} ({exc})")
        if "no such table" in str(exc):
            return StoreError(f"sqlite store {self.path} is not set up (run `threatline setup`): {exc}")
        return StoreError(f"sqlite store {self.path}: {exc}")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise self._translate(exc) from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock from the start, so read-then-write is atomic."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._translate(exc) from None
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._translate(exc) from None
                raise

    # --- lifecycle -------------------------------------------------------------------------

    def setup(self) -> None:
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def ping(self) -> bool:
        try:
            with self._read() as db:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return True
        except StoreError:
            return False

    def check_writable(self) -> None:
        with self._read() as db:
            write_and_read(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- flagged items ---------------------------------------------------------------------

    def index_items(self, docs: Sequence[dict[str, Any]]) -> int:
        rows = [(_item_id(doc, i), doc) for i, doc in enumerate(docs)]
        created = 0
        with self._write() as db:
            for item_id, doc in rows:
                cursor = db.execute(
                    "INSERT INTO items (id, doc, version, ts_ms, severity, category, school, status, source, score)"
                    " VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    (item_id, json.dumps(doc), *_item_columns(doc)),
                )
                if cursor.rowcount == 1:
                    db.execute("INSERT INTO items_text (rowid, message, explanation) VALUES (?, ?, ?)",
                               (cursor.lastrowid, doc.get("message") or "", _explanation_text(doc)))
                    created += 1
        return created

    def get_item(self, item_id: str) -> StoredDoc | None:
        with self._read() as db:
            row = db.execute("SELECT doc, version FROM items WHERE id = ?", (item_id,)).fetchone()
        return StoredDoc(item_id, json.loads(row[0]), str(row[1])) if row else None

    def search_items(self, query: ItemQuery) -> Page:
        if query.size < 0 or query.offset < 0:
            raise ValueError("size and offset must not be negative")
        where: list[str] = []
        params: list[Any] = []
        if query.text and (match := fts_match_expression(query.text)):
            where.append("rowid IN (SELECT rowid FROM items_text WHERE items_text MATCH ?)")
            params.append(match)
        for field_name, column in _FILTER_COLUMNS:
            values = list(getattr(query, field_name))
            if values:
                where.append(_in(column, values, params))
        if query.scopes:
            where.append(_scopes_clause(query.scopes, params))
        if query.since is not None:
            where.append("ts_ms >= ?")
            params.append(epoch(query.since, 1_000))
        if query.until is not None:
            where.append("ts_ms < ?")
            params.append(epoch(query.until, 1_000))
        if query.labeled is not None:
            # No column of its own: few items are labeled and older files need no migration.
            where.append(f"json_extract(doc, '$.review.label') IS {'NOT ' if query.labeled else ''}NULL")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._read() as db:
            total = db.execute(f"SELECT COUNT(*) FROM items {clause}", params).fetchone()[0]
            rows = db.execute(
                f"SELECT id, doc, version FROM items {clause} ORDER BY {_SORTS[query.sort]} LIMIT ? OFFSET ?",
                [*params, query.size, query.offset],
            ).fetchall() if query.size else []
        return Page(total, [StoredDoc(r[0], json.loads(r[1]), str(r[2])) for r in rows])

    def update_review(self, item_id: str, review: dict[str, Any], version: str) -> str:
        expected = _version_number(version)
        with self._write() as db:
            row = db.execute("SELECT doc, version FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise NotFound(f"item {item_id} not found")
            if row[1] != expected:
                raise ConflictError(f"item {item_id} changed since version {version} (now {row[1]})")
            doc = json.loads(row[0])
            doc["review"] = merge(doc.get("review") or {}, review)
            # The version test in WHERE is the compare-and-set; the lock makes it always succeed here.
            cursor = db.execute(
                "UPDATE items SET doc = ?, version = version + 1, status = ? WHERE id = ? AND version = ?",
                (json.dumps(doc), dotted(doc, "review.status"), item_id, expected),
            )
            if cursor.rowcount != 1:
                raise ConflictError(f"item {item_id} changed since version {version}")
        return str(expected + 1)

    def delete_items(self, item_ids: Sequence[str]) -> int:
        """Delete for good (retention): the rows, their words in the full-text index, and the WAL
        frames that still hold them."""
        deleted = 0
        with self._write() as db:
            for item_id in item_ids:
                row = db.execute("DELETE FROM items WHERE id = ? RETURNING rowid", (item_id,)).fetchone()
                if row:
                    db.execute("DELETE FROM items_text WHERE rowid = ?", (row[0],))
                    deleted += 1
            if deleted:
                # FTS5 only marks deleted rows in its segments until they merge; "optimize" merges
                # now. SQLite 3.40 has no FTS5 secure-delete option (3.42+).
                db.execute("INSERT INTO items_text (items_text) VALUES ('optimize')")
        if deleted:
            # The WAL keeps old page images until it is reset; a reader holding an old snapshot
            # may stop TRUNCATE short, and the next purge's checkpoint finishes the job.
            with self._read() as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return deleted

    # --- alerts ----------------------------------------------------------------------------

    def create_alert(self, alert_id: str, doc: dict[str, Any]) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO alerts (id, doc, version, item_id, status, ts_us) VALUES (?, ?, 1, ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                (alert_id, json.dumps(doc), doc.get("item_id"), doc.get("status"), epoch(doc.get("@timestamp"), 1_000_000)),
            )
            return cursor.rowcount == 1

    def get_alert(self, alert_id: str) -> StoredDoc | None:
        with self._read() as db:
            row = db.execute("SELECT doc, version FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return StoredDoc(alert_id, json.loads(row[0]), str(row[1])) if row else None

    def update_alert(self, alert_id: str, doc: dict[str, Any], version: str) -> str:
        expected = _version_number(version)
        with self._write() as db:
            cursor = db.execute(
                "UPDATE alerts SET doc = ?, version = version + 1, item_id = ?, status = ?, ts_us = ?"
                " WHERE id = ? AND version = ?",
                (json.dumps(doc), doc.get("item_id"), doc.get("status"), epoch(doc.get("@timestamp"), 1_000_000),
                 alert_id, expected),
            )
            if cursor.rowcount != 1:
                if db.execute("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)).fetchone() is None:
                    raise NotFound(f"alert {alert_id} not found")
                raise ConflictError(f"alert {alert_id} changed since version {version}")
        return str(expected + 1)

    def search_alerts(self, item_id: str | None = None, status: str | Sequence[str] | None = None,
                      size: int = 100) -> list[StoredDoc]:
        where, params = [], []
        if item_id is not None:
            where.append("item_id = ?")
            params.append(item_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._read() as db:
            rows = db.execute(f"SELECT id, doc, version FROM alerts {clause} ORDER BY ts_us DESC, id ASC LIMIT ?",
                              [*params, size]).fetchall()
        return [StoredDoc(r[0], json.loads(r[1]), str(r[2])) for r in rows]

    def alerts_between(self, since: datetime | None = None,
                       until: datetime | None = None) -> Iterator[StoredDoc]:
        for _, alert_id, doc, version in self._between("alerts", "doc, version", since, until):
            yield StoredDoc(alert_id, json.loads(doc), str(version))

    def _between(self, table: str, columns: str, since: datetime | None, until: datetime | None,
                 where: Sequence[str] = (), params: Sequence[Any] = ()) -> Iterator[tuple]:
        """Rows ``(ts_us, id, *columns)`` of ``table`` with ts_us in [since, until), by (ts_us, id),
        read in keyset pages so no page holds the lock for long and nothing is skipped or repeated."""
        conditions, values = ["ts_us IS NOT NULL", *where], list(params)
        if since is not None:
            conditions.append("ts_us >= ?")
            values.append(epoch(since, 1_000_000))
        if until is not None:
            conditions.append("ts_us < ?")
            values.append(epoch(until, 1_000_000))
        after: tuple[int, str] | None = None
        while True:
            keyset = ["(ts_us, id) > (?, ?)"] if after else []
            with self._read() as db:
                rows = db.execute(
                    f"SELECT ts_us, id, {columns} FROM {table} WHERE {' AND '.join(conditions + keyset)}"
                    " ORDER BY ts_us ASC, id ASC LIMIT ?",
                    [*values, *(after or ()), self._page_size],
                ).fetchall()
            yield from rows
            if len(rows) < self._page_size:
                return
            after = (rows[-1][0], rows[-1][1])

    # --- audit -----------------------------------------------------------------------------

    def append_audit(self, docs: Sequence[dict[str, Any]]) -> None:
        rows = [(_audit_id(doc, i), doc) for i, doc in enumerate(docs)]
        with self._write() as db:
            db.executemany(
                "INSERT INTO audit (id, doc, item_id, ts_us) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                [(audit_id, json.dumps(doc), dotted(doc, "threat.item_id"), epoch(doc.get("@timestamp"), 1_000_000))
                 for audit_id, doc in rows],
            )

    def audit_for(self, item_id: str) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute("SELECT doc FROM audit WHERE item_id = ? ORDER BY ts_us ASC, rowid ASC",
                              (item_id,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def search_audit(self, since: datetime | None = None, until: datetime | None = None,
                     actions: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        actions = [actions] if isinstance(actions, str) else list(actions)
        params: list[Any] = []
        where = [_in("json_extract(doc, '$.event.action')", actions, params)] if actions else []
        for _, _, doc in self._between("audit", "doc", since, until, where, params):
            yield json.loads(doc)


def _audit_id(doc: dict[str, Any], position: int) -> str:
    audit_id = dotted(doc, "event.id")
    if not isinstance(audit_id, str) or not audit_id:
        raise StoreError(f"audit record #{position} has no event.id")
    return audit_id


def _version_number(version: str) -> int:
    try:
        return int(version)
    except (TypeError, ValueError):
        raise ConflictError(f"version {version!r} was not issued by this store") from None
