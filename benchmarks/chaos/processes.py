"""Real `checkin run` processes: started, killed with -9 at any instant, restarted, stopped with SIGTERM.

Each start writes its own log file; the webhook port a process got (the config asks for port 0) is read
from its start-up line, as an operator would read it.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
import time
from pathlib import Path

_WEBHOOK = re.compile(r"Telegram webhook listening on [^:]+:(\d+)/")
_RUNNING = re.compile(r"checkin-bot running as ")


class BotProcess:
    """One replica: its config, its environment, and the log of each of its lives."""

    def __init__(self, name: str, config: Path, env: dict[str, str], directory: Path) -> None:
        self.name = name
        self._config = config
        self._env = env
        self._directory = directory
        self._process: asyncio.subprocess.Process | None = None
        self.lives = 0
        self.log: Path = directory / f"{name}-0.log"

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def worker_id(self) -> str:
        """What this process writes in the outbox's ``leased_by`` (see ``bot.app.serve.worker_id``)."""
        assert self._process is not None
        return f"{socket.gethostname()}:{self._process.pid}"

    async def start(self) -> None:
        self.lives += 1
        self.log = self._directory / f"{self.name}-{self.lives}.log"
        with self.log.open("wb") as out:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                "-c",
                str(self._config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=self._env,
            )

    async def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        await self._process.wait()

    async def stop(self, seconds: float = 60) -> int:
        """SIGTERM and wait; the exit status (0 for a clean stop)."""
        if self._process is None or self._process.returncode is not None:
            return self._process.returncode if self._process is not None else 0
        self._process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self._process.wait(), seconds)
        except TimeoutError:
            await self.kill()
            return -9

    async def webhook_port(self, seconds: float = 60) -> int:
        """The port this life's Telegram webhook listens on, from its log once it has started."""
        return int((await self._logged(_WEBHOOK, seconds)).group(1))

    async def until_running(self, seconds: float = 60) -> None:
        """Wait for this life's "running" line: before it, SIGTERM finds no handler and ends the process at once."""
        await self._logged(_RUNNING, seconds)

    async def _logged(self, pattern: re.Pattern[str], seconds: float) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if (found := pattern.search(self.log.read_text(errors="replace"))) is not None:
                return found
            if not self.alive:
                break
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not log {pattern.pattern!r}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def logs(self) -> str:
        """Every life's log, for counting what the processes said."""
        return "".join(
            (self._directory / f"{self.name}-{life}.log").read_text(errors="replace")
            for life in range(1, self.lives + 1)
        )
