"""`python -m refserver`: the listening line, real HTTP, clean stop, and usage errors."""

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from refserver.__main__ import main
from refserver.faults import FAULTS

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"refserver listening on (http://127\.0\.0\.1:\d+)\n")


def test_serves_over_real_http_and_stops_on_sigterm():
    env = {**os.environ, "REFSERVER_ADMIN_SECRET": "cli-admin-secret", "REFSERVER_FAULTS": ""}
    server = subprocess.Popen(
        [sys.executable, "-m", "refserver", "--port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = server.stdout.readline()
        match = LISTENING.fullmatch(line)
        assert match, f"unexpected first line {line!r}"
        url = match.group(1)
        response = httpx.get(f"{url}/fhir/Observation", auth=("root", "cli-admin-secret"), timeout=5)
        assert response.status_code == 200
        assert response.json()["link"][0]["url"].startswith(f"{url}/fhir/Observation?")
        assert httpx.get(f"{url}/fhir/Observation", timeout=5).status_code == 401
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    assert server.returncode == 0, stderr
    assert "cli-admin-secret" not in stderr


def test_missing_admin_secret_exits_2(monkeypatch, capsys):
    monkeypatch.delenv("REFSERVER_ADMIN_SECRET", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0"])
    assert exit_info.value.code == 2
    assert "REFSERVER_ADMIN_SECRET" in capsys.readouterr().err


def test_unknown_fault_exits_2_listing_valid_names(monkeypatch, capsys):
    monkeypatch.setenv("REFSERVER_ADMIN_SECRET", "x")
    monkeypatch.setenv("REFSERVER_FAULTS", "ignore-count,bogus-fault")
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "bogus-fault" in err and "missing-next-link" in err


def test_list_faults(capsys):
    assert main(["--list-faults"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(FAULTS)
    assert lines[0].startswith("accept-any-secret ")
