"""The run's SQLite index of cells (WAL journal; no server).

A cell is one unit of resumable work keyed by a content hash (``cell_key``). Status:
``pending`` -> ``running`` (``owner``, ``lease_expires``, ``heartbeat``) -> ``done`` | ``failed``
(``error``, ``traceback``). ``claim`` takes a cell that is pending or failed, or running with an
expired lease, or running under a process of this host that no longer exists (a killed run
resumes at once instead of waiting for its lease). Every write is one short transaction.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from typing import Any, Dict, Iterable, List, Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
  key TEXT PRIMARY KEY, stage TEXT NOT NULL, model TEXT, method TEXT, spec TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending', owner TEXT, lease_expires REAL, heartbeat REAL,
  attempts INTEGER NOT NULL DEFAULT 0, error TEXT, traceback TEXT, created REAL, started REAL,
  finished REAL, seconds REAL, n_samples INTEGER, summary TEXT
);
CREATE TABLE IF NOT EXISTS plan (key TEXT PRIMARY KEY, position INTEGER NOT NULL);
"""


def cell_key(spec: Dict[str, Any]) -> str:
    """Content hash of a cell spec (canonical JSON) -> 20 hex characters."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def new_owner() -> str:
    """``host:pid:random`` identifying this process as a lease holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_dead(owner: Optional[str]) -> bool:
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Store:
    """The cell index of one run folder (``store.sqlite``)."""

    def __init__(self, path: str, timeout: float = 60.0) -> None:
        self.path = path
        self.con = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        # Ranks open the same new store at once. Switching a database to WAL needs an exclusive
        # lock and SQLite reports "database is locked" at once, without its busy handler, when
        # another connection is creating or converting it: retry until ``timeout``.
        deadline, wait = time.monotonic() + timeout, 0.005
        while True:
            try:
                self.con.execute("PRAGMA journal_mode=WAL")
                self.con.execute("PRAGMA synchronous=NORMAL")
                self.con.executescript(SCHEMA)
                break
            except sqlite3.OperationalError as e:
                if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                    self.con.close()
                    raise
                time.sleep(wait)
                wait = min(wait * 2, 0.2)

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def _tx(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        self.con.execute("BEGIN IMMEDIATE")
        try:
            cur = self.con.execute(sql, tuple(args))
            self.con.execute("COMMIT")
            return cur
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def ensure(self, key: str, stage: str, model: str, method: str, spec: Dict[str, Any]) -> None:
        """Insert the cell as pending unless it exists."""
        self._tx("INSERT OR IGNORE INTO cells (key, stage, model, method, spec, created) VALUES (?,?,?,?,?,?)",
                 (key, stage, model, method, json.dumps(spec, sort_keys=True, default=str), time.time()))

    def set_plan(self, keys: List[str]) -> None:
        """Record the cells of the current config (the reader shows these)."""
        self.con.execute("BEGIN IMMEDIATE")
        try:
            self.con.execute("DELETE FROM plan")
            self.con.executemany("INSERT INTO plan (key, position) VALUES (?, ?)", [(k, i) for i, k in enumerate(keys)])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        """The cell's row as a dict (None if absent)."""
        cur = self.con.execute("SELECT * FROM cells WHERE key = ?", (key,))
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row)) if row else None

    def status(self, key: str) -> Optional[str]:
        """The cell's status."""
        row = self.con.execute("SELECT status FROM cells WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def claim(self, key: str, owner: str, lease_seconds: float) -> bool:
        """Take the cell for ``owner`` if it is claimable (see module doc). True if taken."""
        now = time.time()
        self.con.execute("BEGIN IMMEDIATE")
        try:
            row = self.con.execute("SELECT status, owner, lease_expires FROM cells WHERE key = ?", (key,)).fetchone()
            ok = row is not None and (
                row[0] in ("pending", "failed")
                or (row[0] == "running" and (row[1] == owner or (row[2] or 0) < now or _owner_dead(row[1]))))
            if ok:
                self.con.execute(
                    "UPDATE cells SET status='running', owner=?, lease_expires=?, heartbeat=?, started=?, "
                    "attempts=attempts+1, error=NULL, traceback=NULL WHERE key=?",
                    (owner, now + lease_seconds, now, now, key))
            self.con.execute("COMMIT")
            return ok
        except BaseException:
            self.con.execute("ROLLBACK")
            raise

    def heartbeat(self, key: str, owner: str, lease_seconds: float) -> bool:
        """Extend the lease; False if ``owner`` no longer holds the cell."""
        now = time.time()
        cur = self._tx("UPDATE cells SET heartbeat=?, lease_expires=? WHERE key=? AND owner=? AND status='running'",
                       (now, now + lease_seconds, key, owner))
        return cur.rowcount == 1

    def finish(self, key: str, owner: str, seconds: float, n_samples: int, summary: Dict[str, Any]) -> None:
        """Mark the cell done with its timings and summary."""
        self._tx("UPDATE cells SET status='done', finished=?, seconds=?, n_samples=?, summary=?, lease_expires=NULL "
                 "WHERE key=? AND owner=?", (time.time(), seconds, n_samples, json.dumps(summary, default=str),
                                             key, owner))

    def fail(self, key: str, owner: str, error: str, traceback_text: str, seconds: float) -> None:
        """Mark the cell failed with the error and its traceback."""
        self._tx("UPDATE cells SET status='failed', finished=?, seconds=?, error=?, traceback=?, lease_expires=NULL "
                 "WHERE key=? AND owner=?", (time.time(), seconds, error, traceback_text, key, owner))

    def reset(self, key: str) -> None:
        """Back to pending (e.g. its outputs were removed)."""
        self._tx("UPDATE cells SET status='pending', owner=NULL, lease_expires=NULL WHERE key=?", (key,))

    def rows(self, plan_only: bool = True) -> List[Dict[str, Any]]:
        """All cells (of the current plan, in plan order, by default)."""
        sql = ("SELECT c.* FROM cells c JOIN plan p ON p.key = c.key ORDER BY p.position" if plan_only
               else "SELECT * FROM cells ORDER BY created")
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
