"""The embedded MongoDB-wire server: SecantusDB run as a separate program.

SecantusDB is GPL, so it is only ever started as a process (``secantusd-py``)
and spoken to over a socket; nothing here imports it. It runs the way
DESIGN.md's measurements say: ``--standalone`` (its replica-set mode slows
sustained writes), and ``--sync-on-commit`` whenever data lives on disk (a
hard kill lost acknowledged writes without it).

Several Audience processes can share one on-disk data directory — ``audience
serve`` and ``audience keys create`` side by side: the first one starts the
server and writes ``server.json`` beside the data; the others find it there
and connect to the running server instead of opening the files twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from plugin.core.constants import MEMORY
from plugin.core.errors import EmbeddedServerError

__all__ = ["EmbeddedServer", "find_executable"]

log = logging.getLogger(__name__)

EXECUTABLE = "secantusd-py"
_LISTENING = re.compile(r"secantus listening on 127\.0\.0\.1:(\d+)")
_STATE_FILE = "server.json"
_LOCK_FILE = ".lock"
_STORAGE_SUBDIR = "db"


def find_executable() -> str:
    """``secantusd-py`` from this interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / EXECUTABLE
    if beside.exists():
        return str(beside)
    found = shutil.which(EXECUTABLE)
    if found is None:
        raise EmbeddedServerError(
            "the embedded database is not installed: install the 'embedded' extra "
            "(pip install 'bot-audience[embedded]') or set MONGODB_URI"
        )
    return found


@dataclass(slots=True)
class EmbeddedServer:
    """A running SecantusDB process, started by us (``owned``) or found running."""

    data_dir: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _tmp_log: tempfile._TemporaryFileWrapper[bytes] | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def owned(self) -> bool:
        return self.process is not None

    @classmethod
    async def start(
        cls,
        data_dir: str = MEMORY,
        *,
        port: int = 0,
        enable_test_commands: bool = False,
        timeout: float = 30.0,
    ) -> EmbeddedServer:
        """Start a server on ``data_dir`` (``:memory:`` for a throw-away one)
        and return once it answers ``ping``."""
        executable = find_executable()
        in_memory = data_dir == MEMORY
        args = [executable, "--host", "127.0.0.1", "--port", str(port), "--standalone"]
        if in_memory:
            args += ["--storage-path", MEMORY]
            tmp_log = tempfile.NamedTemporaryFile(prefix="secantusd-", suffix=".log")
            log_path = Path(tmp_log.name)
        else:
            root = Path(data_dir)
            (root / _STORAGE_SUBDIR).mkdir(parents=True, exist_ok=True)
            # Absolute: the server runs in the temp folder (cwd below), not here.
            args += ["--storage-path", str((root / _STORAGE_SUBDIR).resolve()), "--sync-on-commit"]
            tmp_log = None
            log_path = root / "secantusd.log"
        if enable_test_commands:
            args.append("--enable-test-commands")
        offset = log_path.stat().st_size if log_path.exists() else 0
        with open(log_path, "ab") as log_file:
            # Own session: a Ctrl-C meant for the CLI must not kill the database
            # before the CLI has flushed its writes and stopped it in order.
            process = subprocess.Popen(
                args,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=tempfile.gettempdir(),
            )
        server = cls(data_dir=data_dir, port=0, process=process, log_path=log_path)
        server._tmp_log = tmp_log
        try:
            server.port = await server._wait_for_port(offset, timeout)
            await server._wait_for_ping(timeout)
        except BaseException:
            await server.stop()
            raise
        log.info("embedded database listening on 127.0.0.1:%d (%s)", server.port, data_dir)
        return server

    @classmethod
    async def attach_or_start(cls, data_dir: str, **start_options: object) -> EmbeddedServer:
        """Connect to the server already running on ``data_dir``, or start one."""
        if data_dir == MEMORY:
            return await cls.start(data_dir, **start_options)  # type: ignore[arg-type]
        root = Path(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        with open(root / _LOCK_FILE, "w") as lock:
            # A blocking flock would stall the event loop; it is held only while
            # a server starts (about half a second), so poll for it.
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.05)
            try:
                running = await cls._find_running(root)
                if running is not None:
                    return running
                server = await cls.start(data_dir, **start_options)  # type: ignore[arg-type]
                state = {"pid": server.process.pid if server.process else None, "port": server.port}
                (root / _STATE_FILE).write_text(json.dumps(state))
                return server
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @classmethod
    async def _find_running(cls, root: Path) -> EmbeddedServer | None:
        try:
            state = json.loads((root / _STATE_FILE).read_text())
            pid, port = int(state["pid"]), int(state["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not _alive(pid):
            return None
        server = cls(data_dir=str(root), port=port)
        try:
            await server._wait_for_ping(timeout=2.0)
        except EmbeddedServerError:
            return None
        log.info("using the embedded database already running on port %d", port)
        return server

    async def stop(self, timeout: float = 15.0) -> None:
        """Stop the process if we started it; a found server is left running."""
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if process.poll() is None:
                log.warning("embedded database did not stop within %.0fs; killing it", timeout)
                process.kill()
                process.wait()
        if self.data_dir != MEMORY:
            state_file = Path(self.data_dir) / _STATE_FILE
            with contextlib.suppress(OSError, ValueError, KeyError):
                if json.loads(state_file.read_text()).get("pid") == process.pid:
                    state_file.unlink()
        if self._tmp_log is not None:
            self._tmp_log.close()
            self._tmp_log = None

    async def _wait_for_port(self, offset: int, timeout: float) -> int:
        assert self.process is not None and self.log_path is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as log_file:
                log_file.seek(offset)
                match = _LISTENING.search(log_file.read().decode("utf-8", "replace"))
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                raise EmbeddedServerError(
                    f"the embedded database exited with code {self.process.returncode}: "
                    f"{self._log_tail(offset)}"
                )
            await asyncio.sleep(0.05)
        raise EmbeddedServerError(f"the embedded database did not start within {timeout:.0f}s")

    async def _wait_for_ping(self, timeout: float) -> None:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            self.uri, serverSelectionTimeoutMS=int(timeout * 1000), connectTimeoutMS=2000
        )
        try:
            await client.admin.command("ping")
        except PyMongoError as exc:
            raise EmbeddedServerError(
                f"the embedded database on port {self.port} does not answer ping: {exc}"
            ) from exc
        finally:
            await client.close()

    def _log_tail(self, offset: int) -> str:
        assert self.log_path is not None
        with open(self.log_path, "rb") as log_file:
            log_file.seek(offset)
            return log_file.read().decode("utf-8", "replace")[-2000:].strip()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
