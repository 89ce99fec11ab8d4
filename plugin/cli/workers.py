"""``audience serve --workers N``: N server processes on one port, one database.

The parent opens the database first — with no ``MONGODB_URI`` it starts the
embedded server, which the workers then find running on the same
``--data-dir`` and attach to (:mod:`plugin.db.embedded`) — and listens on the
port itself; each worker is ``audience serve`` run again with the listening
socket handed down (``AUDIENCE_WORKER_FD``), so the kernel spreads the
connections over them and ``--port 0`` means one port for all. The workers
share everything else through the database: conversations and socket messages
(:mod:`plugin.handover.store`), jobs and webhook deliveries (claimed there).

What must be the same in every process is: the link secret signs download
links and paging cursors, so a worker started without ``AUDIENCE_LINK_SECRET``
would refuse the others' — the parent makes one for all of them when it is not
set (good until a restart; set it for links that outlive one). Sessions of the
web tab are in the database already.

A worker that dies is started again; SIGINT or SIGTERM stops the workers
(each drains its requests and jobs: ``audience serve``'s own shutdown) and
then the database. A worker whose parent is killed outright stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import signal
import socket
import sys
from typing import TYPE_CHECKING

from plugin.cli.exits import EXIT_OK, CommandFailed

if TYPE_CHECKING:
    from plugin.core.settings import Settings

__all__ = ["WORKER_FD", "stop_when_orphaned", "supervise"]

log = logging.getLogger(__name__)

WORKER_FD = "AUDIENCE_WORKER_FD"  # set in a worker: the listening socket it serves on
_READY = re.compile(r"serving on (http://\S+)")
_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
_RESTART_DELAY_S = 1.0


async def stop_when_orphaned(stop: asyncio.Event, every_s: float = 1.0) -> None:
    """In a worker: set ``stop`` once the parent is gone (killed without its
    SIGTERM reaching us), so no worker outlives its supervisor."""
    parent = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(every_s)
        if os.getppid() != parent:
            log.warning("the --workers parent (pid %d) is gone; stopping", parent)
            stop.set()


def listening_socket(host: str, port: int) -> socket.socket:
    try:
        listener = socket.create_server((host, port), backlog=1024)
    except OSError as exc:
        raise CommandFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    listener.set_inheritable(True)
    return listener


async def supervise(settings: Settings, workers: int, command_line: list[str],
                    stop: asyncio.Event) -> int:
    """Run ``workers`` servers (each ``audience`` with ``command_line``) on one
    socket until ``stop`` is set."""
    from plugin.db.database import Database

    env = dict(os.environ)
    if not settings.link_secret:
        env["AUDIENCE_LINK_SECRET"] = secrets.token_hex(32)
        log.warning("AUDIENCE_LINK_SECRET is not set: the workers share one made for this run; "
                    "download links and paging cursors stop working when it stops")
    db = await Database.open(settings)  # the embedded database, for every worker
    listener = listening_socket(settings.host, settings.port)
    host, port = listener.getsockname()[:2]
    env[WORKER_FD] = str(listener.fileno())
    crew = _Crew(command_line, env, listener.fileno(), stop)
    try:
        await asyncio.gather(*(crew.start(n) for n in range(workers)))
        url = f"http://{host}:{port}"
        print(f"Audience is serving on {url} with {workers} workers  (health: {url}/health, "
              f"API: {url}/openapi.json)", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        await crew.keep_running()
    finally:
        await crew.stop_all()
        listener.close()
        await db.close()
    return EXIT_OK


class _Crew:
    """The worker processes: started, restarted when one dies, stopped together."""

    def __init__(self, command_line: list[str], env: dict[str, str], fd: int,
                 stop: asyncio.Event) -> None:
        self.command_line, self.env, self.fd, self.stop = command_line, env, fd, stop
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        self._relays: set[asyncio.Task[None]] = set()

    async def start(self, number: int) -> None:
        """Start worker ``number``; return once it serves."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; from plugin.cli.main import main; sys.exit(main())",
            *self.command_line, env=self.env, pass_fds=(self.fd,),
            stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
        self.processes[number] = process
        assert process.stdout is not None
        try:
            await asyncio.wait_for(self._until_ready(process.stdout), _START_TIMEOUT_S)
        except (TimeoutError, EOFError):
            raise CommandFailed(f"worker {number} did not start (exit code "
                                f"{process.returncode}); see its messages above") from None
        relay = asyncio.create_task(self._relay(number, process.stdout))
        self._relays.add(relay)
        relay.add_done_callback(self._relays.discard)

    @staticmethod
    async def _until_ready(stdout: asyncio.StreamReader) -> None:
        while True:
            line = await stdout.readline()
            if not line:
                raise EOFError
            if _READY.search(line.decode("utf-8", "replace")):
                return

    @staticmethod
    async def _relay(number: int, stdout: asyncio.StreamReader) -> None:
        """What a worker prints, after it is up, goes on to ours."""
        while line := await stdout.readline():
            sys.stdout.write(f"[worker {number}] {line.decode('utf-8', 'replace')}")
            sys.stdout.flush()

    async def keep_running(self) -> None:
        """Until ``stop``: a worker that exits is started again."""
        while not self.stop.is_set():
            waits = {asyncio.ensure_future(p.wait()): n for n, p in self.processes.items()}
            stopping = asyncio.ensure_future(self.stop.wait())
            done, _ = await asyncio.wait({*waits, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (*waits, stopping):
                if task not in done:
                    task.cancel()
            if self.stop.is_set():
                return
            for task in done:
                number = waits.get(task)
                if number is None:
                    continue
                log.warning("worker %d exited with code %s; starting it again", number,
                            self.processes[number].returncode)
                await asyncio.sleep(_RESTART_DELAY_S)
                with contextlib.suppress(CommandFailed):
                    await self.start(number)

    async def stop_all(self) -> None:
        """SIGTERM to every worker (each shuts down in order), SIGKILL to the late."""
        for process in self.processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                await asyncio.wait_for(process.wait(), _STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("worker %d did not stop within %.0fs; killing it", process.pid,
                            _STOP_TIMEOUT_S)
                process.kill()
                await process.wait()
        for relay in list(self._relays):
            relay.cancel()
