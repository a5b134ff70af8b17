"""Is a process id the bot? `checkin reload` asks before it sends SIGHUP.

A pid file can be stale (the bot died and the id went to another program) or crafted; SIGHUP ends most
programs, so `reload` signals a process only when its command line (``/proc/PID/cmdline``, Linux) is
`checkin run` with the same config file. Where there is no ``/proc`` the check cannot be made and is skipped.
"""

from __future__ import annotations

from pathlib import Path

from bot.cli.common import CONFIG_ENV, DEFAULT_CONFIG

PROC = Path("/proc")


def running_bot(pid: int, config: Path, proc: Path = PROC) -> bool:
    """True when process ``pid`` runs `checkin run` on ``config``; also True where ``/proc`` does not exist."""
    if not (proc / "self").exists():
        return True
    try:
        args = [a.decode(errors="replace") for a in (proc / str(pid) / "cmdline").read_bytes().split(b"\0") if a]
        cwd = (proc / str(pid) / "cwd").resolve(strict=True)
    except OSError:  # gone, or another user's
        return False
    names_the_bot = any(Path(a).name == "checkin" or a == "bot.cli" for a in args)
    if not names_the_bot or "run" not in args:
        return False
    named = _config_argument(args) or _config_from_environment(proc / str(pid) / "environ") or DEFAULT_CONFIG
    return (cwd / named).resolve() == config.resolve()


def _config_argument(args: list[str]) -> str | None:
    for index, arg in enumerate(args):
        if arg in ("--config", "-c") and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--config="):
            return arg.removeprefix("--config=")
    return None


def _config_from_environment(environ: Path) -> str | None:
    """The config a process was given through the environment, when it was and its environment can be read."""
    try:
        variables = environ.read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = f"{CONFIG_ENV}=".encode()
    return next((v.removeprefix(prefix).decode(errors="replace") for v in variables if v.startswith(prefix)), None)
