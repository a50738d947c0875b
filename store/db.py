"""Engines and sessions for the store; schema upgrades through Alembic at start-up.

SQLite is tuned for one writer and many readers (WAL, busy timeout); PostgreSQL needs nothing special.
The entry point owns the engine and commits or rolls back; store functions take a connection.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError

from config.errors import StoreError
from store.checkpoint import Checkpointer

MIGRATIONS = Path(__file__).with_name("migrations")
_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, Checkpointer] = weakref.WeakKeyDictionary()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # 16 KiB pages hold several ~2 KiB evidence rows each (4 KiB pages held one, the rest wasted): the file
    # is about 40% smaller. Takes effect only when the file is created; later it is a no-op.
    cursor.execute("PRAGMA page_size=16384")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps the file consistent
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: the chain head and indexes stay hot
    # The checkpoints run on store.checkpoint's thread; this one, inside a commit, is the backstop (256 MiB).
    cursor.execute("PRAGMA wal_autocheckpoint=16384")
    cursor.execute("PRAGMA journal_size_limit=67108864")  # after a full copy, keep at most 64 MiB of log file
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg://...); creates the SQLite folder."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; issue it ourselves so that
        # BEGIN IMMEDIATE (see store.locks) takes the write lock at the start of the transaction.
        event.listen(engine, "connect", lambda conn, _r: setattr(conn, "isolation_level", None))
        checkpointer = Checkpointer(path)
        _CHECKPOINTERS[engine] = checkpointer
        event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
        weakref.finalize(engine, checkpointer.stop)  # an engine dropped without dispose() stops it too
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def checkpointer(engine: Engine) -> Checkpointer | None:
    """The thread that checkpoints `engine`'s SQLite file (None for PostgreSQL)."""
    return _CHECKPOINTERS.get(engine)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe on every start)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as err:
        raise StoreError(f"store: cannot reach or migrate the database ({err.orig})") from None


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One transaction; on SQLite `write=True` takes the write lock up front (BEGIN IMMEDIATE)."""
    with engine.connect() as connection:
        if is_sqlite(engine):
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
            except BaseException:
                connection.exec_driver_sql("ROLLBACK")
                raise
            connection.exec_driver_sql("COMMIT")
        else:
            with connection.begin():
                yield connection
