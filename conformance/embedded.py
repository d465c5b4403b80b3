"""The embedded reference server: started as a child process on a free loopback port when the user
gives no --server-url, and reached over real HTTP like any other server (DESIGN.md §2, §6)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

READY_LINE = re.compile(r"refserver listening on (https?://\S+)")
START_TIMEOUT = 30.0


class EmbeddedServerError(RuntimeError):
    pass


@dataclass
class EmbeddedServer:
    process: subprocess.Popen
    url: str

    @classmethod
    def start(cls, admin_client_id: str, admin_secret: str, extra_args: tuple[str, ...] = ()) -> "EmbeddedServer":
        """Start `python -m refserver --port 0` and wait for the line that names its URL.
        The admin secret travels in the environment, never on the command line (ps shows those)."""
        env = {**os.environ, "REFSERVER_ADMIN_SECRET": admin_secret}
        command = [sys.executable, "-m", "refserver", "--port", "0", "--admin-client-id", admin_client_id,
                   *extra_args]
        # stderr goes to a file: an unread pipe would block the server once full.
        errors = tempfile.TemporaryFile(mode="w+")
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        url = _wait_for_url(process, errors)
        return cls(process, url)

    def stop(self, wait: bool = True) -> None:
        """Ask the server to shut down. With wait=False the caller does not wait out uvicorn's graceful
        shutdown (about 0.2 s of fixed sleeps): at the end of a run nothing depends on the server any
        more, and the process ends on its own moments later."""
        if self.process.poll() is None:
            self.process.terminate()
            if not wait:
                return
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def _wait_for_url(process: subprocess.Popen, errors) -> str:
    found: list[str] = []

    def read_until_ready():
        for line in process.stdout:
            if match := READY_LINE.search(line):
                found.append(match.group(1))
                return

    reader = threading.Thread(target=read_until_ready, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if not found:
        process.kill()
        process.wait()
        errors.seek(0)
        raise EmbeddedServerError(
            f"the embedded reference server did not start within {START_TIMEOUT:.0f}s:\n{errors.read()[-2000:]}")
    return found[0]
