"""``command``: run a program (no shell) with the notice summary as JSON on stdin and as
``GWALERT_*`` environment variables.

Options: ``argv`` (array, required), ``env`` (table of extra variables), ``pass_env`` (names
of the listener's environment variables the program may see), ``cwd``, ``output``
(a file the program's stdout and stderr are appended to; default: discarded, the last stderr
line goes into the error of a failed run), ``timeout`` (seconds, default 60; the whole process
group is killed when it expires). The files the program
may read (the raw notice, the sky-map FITS) are written to a temporary directory removed after
the run; their paths are in the summary's ``files`` and in ``GWALERT_NOTICE_FILE`` /
``GWALERT_SKYMAP_FILE``. ``GWALERT_ACTION_ID`` is the idempotency key: the same on a retry or
after a restart, so the program can skip work it already did.

The program gets a minimal environment, never the listener's: ``PATH``, ``HOME``, ``USER``,
``LOGNAME``, ``SHELL``, ``TMPDIR``, ``TZ``, ``LANG`` and ``LC_*`` from the listener, the
``GWALERT_*`` variables gwalert sets for this run (not those of the listener, such as
``GWALERT_SMTP_PASSWORD``), the variables ``pass_env`` names, and ``env``. Credentials the
listener holds (``GCN_CLIENT_SECRET``, the SMTP password, another action's webhook URL) are not
visible to it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ..options import OptionError, check_keys, opt_path, opt_strs, opt_table
from .base import ActionContext, ActionError, flat_env

SECRET_KEYS = ("env",)
DEFAULT_TIMEOUT = 60.0
_TAIL = 400


def validate(options: dict[str, Any], *, base: Path, resolve: bool = True) -> dict[str, Any]:
    check_keys(options, {"argv", "env", "pass_env", "cwd", "output"})
    argv = opt_strs(options, "argv", allow_one=False)
    assert argv is not None
    out: dict[str, Any] = {"argv": argv, "env": opt_table(options, "env")}
    if "pass_env" in options:
        names = opt_strs(options, "pass_env")
        assert names is not None
        bad = [n for n in names if not n or "=" in n or "\0" in n]
        if bad:
            raise OptionError("pass_env", f"not a variable name: {bad[0]!r}")
        out["pass_env"] = names
    if "cwd" in options:
        out["cwd"] = opt_path(options, "cwd", base)
    if "output" in options:
        out["output"] = opt_path(options, "output", base)
    if resolve and shutil.which(argv[0]) is None:
        raise OptionError("argv", f"program {argv[0]!r} not found (or not executable)")
    return out


#: Runs the program, then records its exit status in the exit marker (``$GWALERT_EXIT_MARKER``,
#: written to a temporary name and renamed): a record that survives the listener, so that a
#: runner that was killed while the program ran can tell afterwards that it completed.
_WRAPPER = (
    '"$@"; s=$?; printf "%s %s\\n" "$s" "$GWALERT_MARKER_TAG" '
    '> "$GWALERT_EXIT_MARKER.tmp" && mv -f "$GWALERT_EXIT_MARKER.tmp" '
    '"$GWALERT_EXIT_MARKER"; exit $s'
)


def run(ctx: ActionContext, options: dict[str, Any]) -> None:
    program = options["argv"][0]
    marker = _marker(ctx)
    if ctx.run_key and ctx.attempt > 1 and recover(ctx, options):
        return  # an earlier attempt ran to completion: not run again
    if marker is not None:
        marker.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="gwalert-") as tmp:
        files = _write_files(ctx, Path(tmp))
        summary = dict(ctx.facts)
        summary["files"] = {**summary.get("files", {}), **files}
        payload = _json(summary)
        env = base_env(options.get("pass_env", ()))
        env.update(flat_env(summary))
        env["GWALERT_ACTION_ID"] = ctx.action_id
        env["GWALERT_ATTEMPT"] = str(ctx.attempt)
        if ctx.run_key:
            env["GWALERT_RUN_KEY"] = ctx.run_key
        env["GWALERT_NOTICE_FILE"] = files.get("notice", "")
        env["GWALERT_SKYMAP_FILE"] = files.get("skymap") or ""
        env.update(options.get("env", {}))
        argv = list(options["argv"])
        if marker is not None:
            if os.sep in program:  # relative to cwd, as Popen would look for it
                found = os.access(os.path.join(options.get("cwd") or ".", program), os.X_OK)
            else:
                found = shutil.which(program, path=env.get("PATH")) is not None
            if not found:  # (the shell would only say "not found" with status 127)
                raise ActionError(f"cannot run {program!r}: No such file or directory")
            env["GWALERT_EXIT_MARKER"] = str(marker)
            env["GWALERT_MARKER_TAG"] = _tag(ctx)
            argv = ["/bin/sh", "-c", _WRAPPER, "gwalert-command", *argv]
        stdin_path = Path(tmp) / "summary.json"
        stdin_path.write_text(payload)
        err_path = Path(tmp) / "stderr"
        output = options.get("output")
        with (
            open(stdin_path, "rb") as fin,
            open(err_path, "w+b") as ferr,
            open(output, "ab") if output else open(os.devnull, "wb") as fout,
        ):
            if output:
                fout.write(f"--- {ctx.action_id} attempt {ctx.attempt}\n".encode())
                fout.flush()
            started = time.monotonic()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=fin,
                    stdout=fout,
                    stderr=ferr,
                    env=env,
                    cwd=options.get("cwd"),
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise ActionError(f"cannot run {program!r}: {exc.strerror or exc}") from None
            try:
                status = proc.wait(timeout=ctx.timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                raise ActionError(
                    f"{program!r} ran {time.monotonic() - started:.1f} s and was "
                    f"killed: timed out after {ctx.timeout:g} s",
                    ran=True,
                    killed=True,
                ) from None
            finally:
                if proc.poll() is None:  # interrupted (e.g. KeyboardInterrupt): no orphans
                    _kill(proc)
                if output:
                    ferr.seek(0)
                    shutil.copyfileobj(ferr, fout)
            if marker is not None:
                status = _wrapped_status(status)
            if status != 0:
                tail = _tail(ferr)
                if status < 0:
                    raise ActionError(
                        f"{program!r} ran {time.monotonic() - started:.1f} s and "
                        f"was killed by {_signame(-status)} (not by gwalert)"
                        + (f": {tail}" if tail else ""),
                        ran=True,
                        killed=True,
                    )
                raise ActionError(
                    f"{program!r} failed (exit status {status})" + (f": {tail}" if tail else ""),
                    ran=True,
                )


def recover(ctx: ActionContext, options: dict[str, Any] | None = None) -> bool:
    """After a runner died during an earlier attempt: wait (up to the action's timeout) for
    the program that attempt left running, then kill what is left; True when its exit marker
    says it completed (exit status 0), so the action is done without running again."""
    if not ctx.run_key:
        return False
    deadline = time.monotonic() + ctx.timeout
    waited = False
    while find_leftovers(ctx.run_key) and time.monotonic() < deadline:
        waited = True
        time.sleep(0.1)
    if kill_leftovers(ctx.run_key):
        return False
    marker = _marker(ctx)
    if marker is None:
        return False
    try:
        status, _, tag = marker.read_text().strip().partition(" ")
    except OSError:
        return False
    if status == "0" and tag == _tag(ctx):
        import logging

        logging.getLogger("gwalert.actions").info(
            "%s: the program an interrupted attempt started %s completed (exit status 0): "
            "not run again",
            ctx.action_id,
            "had" if not waited else "has now",
        )
        return True
    return False


def forget(ctx: ActionContext) -> None:
    """The ledger has recorded the outcome: the exit marker is no longer needed."""
    marker = _marker(ctx)
    if marker is not None:
        marker.unlink(missing_ok=True)


def _marker(ctx: ActionContext) -> Path | None:
    if not ctx.run_key or not ctx.state_dir:
        return None
    directory = Path(ctx.state_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return directory / f"{ctx.run_key}.exit"


def _tag(ctx: ActionContext) -> str:
    """Ties a marker to this action of this notice (a rebuilt store reuses row ids)."""
    import hashlib

    content = ctx.content_hash
    return hashlib.sha256(f"{ctx.action_id}\0{content}".encode()).hexdigest()[:16]


def _wrapped_status(status: int) -> int:
    """The program's status through the shell wrapper: 128+N means killed by signal N."""
    if 128 < status < 128 + 65:
        return -(status - 128)
    return status


def _signame(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


#: Variables of the listener every program gets (locale, time zone, where things are).
BASE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ", "LANG", "LANGUAGE")


def base_env(pass_env: Any = ()) -> dict[str, str]:
    """The listener's variables a program may see: :data:`BASE_ENV`, ``LC_*`` and the names in
    ``pass_env``; nothing else (no credential, no ``GWALERT_*`` of the listener's own)."""
    keep = set(BASE_ENV) | set(pass_env)
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    return env


def find_leftovers(run_key: str) -> list[int]:
    """Process groups of programs an earlier attempt of this action left running (found by
    ``GWALERT_RUN_KEY`` in their environment; Linux ``/proc``); zombies do not count."""
    needle = f"\0GWALERT_RUN_KEY={run_key}\0".encode()
    mine = os.getpgid(0)
    groups: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = b"\0" + fh.read() + b"\0"
            if needle not in environ:
                continue
            with open(f"/proc/{entry}/stat", "rb") as fh:
                if fh.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue
            group = os.getpgid(int(entry))
            if group != mine:
                groups.add(group)
        except (OSError, ValueError, IndexError):
            continue
    return sorted(groups)


def kill_leftovers(run_key: str) -> int:
    """Kill the process groups of programs an earlier attempt of this action left running.
    Returns how many."""
    killed = 0
    for group in find_leftovers(run_key):
        try:
            os.killpg(group, signal.SIGKILL)
            killed += 1
        except OSError:
            continue
    if killed:
        import logging

        logging.getLogger("gwalert.actions").warning(
            "killed %d program(s) left running by an interrupted earlier attempt", killed
        )
    return killed


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _tail(fh: Any) -> str:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - _TAIL))
    text = fh.read().decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else ""


def _write_files(ctx: ActionContext, tmp: Path) -> dict[str, str]:
    ext = "json" if ctx.format == "json" else "avro"
    files: dict[str, str] = {}
    path = tmp / f"notice.{ext}"
    path.write_bytes(ctx.raw)
    files["notice"] = str(path)
    skymap = ctx.skymap_bytes()  # from the stored bytes: the notice is not decoded
    if skymap:
        path = tmp / "skymap.multiorder.fits"
        path.write_bytes(skymap)
        files["skymap"] = str(path)
    return files


def _json(summary: dict[str, Any]) -> str:
    import json

    from .base import json_default

    return json.dumps(summary, default=json_default, sort_keys=True)
