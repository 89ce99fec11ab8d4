"""Reading an uploaded file: the reader for its format, run in a process of its own.

:func:`read_table` reads the whole file (CSV through
:func:`~plugin.transfer.tables.csv_records`, XLSX through
:func:`~plugin.transfer.workbooks.read_workbook`) within the bounds of an
import, or refuses it with :class:`~plugin.transfer.tables.UnreadableFile`.

:func:`read_upload` is how the server and the CLI call it: in a fresh
Python process started for the file (``python -m plugin.transfer.reading``:
it inherits nothing of the server, and no host program's main module is
imported again, as multiprocessing's spawn would), waited for in a worker
thread, so the event loop goes on serving while a big file is parsed. The
file goes to it on stdin and the table (or the refusal) comes back pickled
on stdout, its rows in chunks. The child is bounded, for the files that lie about their size (an
XLSX reader allocates what the file declares, and python-calamine aborts the
process when an allocation fails):

* its address space is capped at ``IMPORT_READ_MEMORY_BYTES``: a reader that
  asks for more gets a MemoryError or dies, the file is refused, and the
  server's own memory is untouched;
* it is killed after ``IMPORT_READ_TIMEOUT_S``;
* at most ``IMPORT_READERS`` run at once in a process; more uploads wait.

The bounds the readers check themselves (rows, columns, cell length, a
workbook's unpacked size and declared span) give the precise reasons.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import logging
import os
import pickle
import resource
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from plugin.core import constants as c
from plugin.transfer.tables import Table, UnreadableFile, bounded_rows, csv_records, too_large
from plugin.transfer.workbooks import read_workbook

__all__ = ["read_table", "read_upload"]

log = logging.getLogger(__name__)

_MODULE = "plugin.transfer.reading"  # run with -m: this module's _main()
_READERS = threading.BoundedSemaphore(c.IMPORT_READERS)
# The reading process ran out of memory where no answer could be sent any more.
_EXIT_OUT_OF_MEMORY = 3
# Rows sent back in one piece: each is unpickled while the event loop waits.
_ROWS_PER_CHUNK = 2000
# Where the ``plugin`` package is: the reading process imports the same code.
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])
_MIB = 1024 * 1024


def read_table(data: bytes, filename: str = "") -> Table:
    """The file as a table (the first sheet of a workbook).

    Raises:
        UnreadableFile: too large, not CSV/XLSX, bad encoding, no header, more
            rows or columns than an import takes, a cell too long, a workbook
            unpacking to too much.
    """
    if len(data) > c.IMPORT_MAX_BYTES:
        raise too_large()
    digest = hashlib.sha256(data).hexdigest()
    encoding: str | None = None
    delimiter: str | None = None
    records: Iterable[Sequence[Any]]
    if data.startswith(b"PK\x03\x04"):
        fmt, records = "xlsx", read_workbook(data)
    elif filename.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise UnreadableFile(f"{filename!r} is not an XLSX workbook (old .xls files are not "
                             "supported: save as .xlsx or CSV)")
    else:
        fmt = "csv"
        records, encoding, delimiter = csv_records(data)
    columns, numbers, rows = bounded_rows(records)
    return Table(fmt, columns, rows, encoding, delimiter, digest, numbers)


async def read_upload(data: bytes, filename: str) -> Table:
    """:func:`read_table` in a bounded process of its own, off the event loop.

    Raises:
        UnreadableFile: as :func:`read_table`; or the file needs more memory
            or time to read than an import may take.
        RuntimeError: the reading process failed (its traceback is logged).
    """
    if len(data) > c.IMPORT_MAX_BYTES:
        raise too_large()  # no process for that
    return await asyncio.to_thread(_read_apart, data, filename)


def _read_apart(data: bytes, filename: str) -> Table:
    env = {**os.environ, "RUST_BACKTRACE": "0",  # an allocation that fails is one line
           "PYTHONPATH": os.pathsep.join(
               [_SOURCE_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])}
    with _READERS:
        reader = subprocess.Popen([sys.executable, "-m", _MODULE], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            reader.kill()

        timer = threading.Timer(c.IMPORT_READ_TIMEOUT_S, expire)
        timer.start()
        try:
            return _receive(reader, pickle.dumps((filename, data)), expired)
        finally:
            timer.cancel()
            if reader.poll() is None:
                reader.kill()
            reader.wait()
            for pipe in (reader.stdin, reader.stdout):
                if pipe is not None:
                    pipe.close()


def _receive(reader: subprocess.Popen[bytes], request: bytes,
             expired: threading.Event) -> Table:
    """Send the file, take the answer back: the table without its rows, then
    the rows in chunks (each unpickled on its own, so this thread lets the
    event loop's go between them), then None; or a refusal."""
    assert reader.stdin is not None and reader.stdout is not None
    try:
        reader.stdin.write(request)
        reader.stdin.close()
    except BrokenPipeError:
        pass  # it is gone already: its exit status says why
    try:
        head: Table | UnreadableFile = pickle.load(reader.stdout)  # our own child's answer
        if isinstance(head, UnreadableFile):
            raise head
        numbers: list[int] = []
        rows: list[list[Any]] = []
        while (chunk := pickle.load(reader.stdout)) is not None:
            numbers += chunk[0]
            rows += chunk[1]
        return replace(head, numbers=numbers, rows=rows)
    except (EOFError, pickle.UnpicklingError):
        pass
    code = reader.wait()
    if expired.is_set():
        raise UnreadableFile(f"the file takes more than {c.IMPORT_READ_TIMEOUT_S:g} s to "
                             "read; split it, or save it as CSV",
                             limit_s=c.IMPORT_READ_TIMEOUT_S)
    if code < 0 or code == _EXIT_OUT_OF_MEMORY:
        log.warning("an import reader stopped (exit status %s): the file needed more than "
                    "%d MiB", code, c.IMPORT_READ_MEMORY_BYTES // _MIB)
        raise _out_of_memory()
    raise RuntimeError(f"the import reader stopped with exit status {code}, without an "
                       "answer (its traceback is above in the log)")


def _out_of_memory() -> UnreadableFile:
    return UnreadableFile(
        f"the file needs more than {c.IMPORT_READ_MEMORY_BYTES // _MIB:,} MiB of memory to "
        "read: its sheet holds cells far beyond its data, or it is not what it claims to "
        "be; save it again as XLSX or CSV, or split it",
        limit=c.IMPORT_READ_MEMORY_BYTES)


def _main() -> None:
    """The reading process: bound itself, read stdin, answer on stdout."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = c.IMPORT_READ_MEMORY_BYTES
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    # csv's own field limit (131,072 characters) would stop first, without
    # naming the column; the file's size bounds a field anyway. This process only.
    csv.field_size_limit(c.IMPORT_MAX_BYTES)
    filename, data = pickle.load(sys.stdin.buffer)  # from the server
    outcome: Table | UnreadableFile
    try:
        outcome = read_table(data, filename)
    except UnreadableFile as exc:
        outcome = exc
    except MemoryError:
        outcome = _out_of_memory()
    del data
    try:
        _answer(outcome)
    except MemoryError:
        os._exit(_EXIT_OUT_OF_MEMORY)


def _answer(outcome: Table | UnreadableFile) -> None:
    out = sys.stdout.buffer
    if isinstance(outcome, UnreadableFile):
        pickle.dump(outcome, out)
    else:
        pickle.dump(replace(outcome, numbers=[], rows=[]), out)
        for start in range(0, len(outcome.rows), _ROWS_PER_CHUNK):
            end = start + _ROWS_PER_CHUNK
            pickle.dump((outcome.numbers[start:end], outcome.rows[start:end]), out,
                        protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(None, out)
    out.flush()


if __name__ == "__main__":
    _main()
