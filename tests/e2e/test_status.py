"""`oia status` against a running `oia dev`, run as an operator runs it: its screen and its exit code."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from oia.catalog import SERVICES
from tests.support.processes import OIA, ROOT, Process, free_port

pytestmark = pytest.mark.e2e

# Wide enough that no row wraps; no colours to strip.
PLAIN = {"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"}
NUMBER = re.compile(r"^\d[\d,]*$")


def status(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_URL") and k != "OIA_PORT"}
    return subprocess.run([OIA, "status", *args], cwd=ROOT, env={**clean, **PLAIN, **env}, capture_output=True,
                          text=True, timeout=120)


def rows(screen: str) -> dict[str, list[str]]:
    """The services table's rows by service (cells stand two spaces apart)."""
    found = {}
    for line in screen.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 9 and cells[0] in SERVICES:
            found[cells[0]] = cells
    return found


@pytest.fixture(scope="module")
def dev(tmp_path_factory) -> Iterator[str]:
    """One `oia dev` for the module's tests (it takes a while to start); they only read from it."""
    folder, port = tmp_path_factory.mktemp("status"), free_port()
    process = Process(["dev"], {"OIA_PORT": str(port), "OIA_DATA_DIR": str(folder / "data")}, folder / "dev.log")
    try:
        base = f"http://127.0.0.1:{port}"
        for name in SERVICES:
            process.wait_healthy(f"{base}/{name}/ready")
        yield base
    finally:
        process.stop()


def test_every_service_of_oia_dev_is_ready_with_its_numbers(dev):
    port = dev.rsplit(":", 1)[1]
    result = status([], {"OIA_PORT": port})  # no --url: `oia dev` on OIA_PORT
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all 4 services ready" in result.stdout
    assert f"asked: {dev} (every service)" in result.stdout
    found = rows(result.stdout)
    assert sorted(found) == sorted(SERVICES), result.stdout
    for name, (_, state, queue, outbox, oldest, dlq, dead, requests, errors) in found.items():
        assert state == "ready"
        # What every build on main exports: the outbox backlog and HTTP requests (each service has
        # answered at least the /ready probes above), none of them a server error.
        assert NUMBER.match(outbox), (name, outbox)
        assert NUMBER.match(requests) and int(requests.replace(",", "")) >= 1, (name, requests)
        assert errors == "0 (0.0%)", (name, errors)
        assert oldest == "0 s", (name, oldest)  # the demo's events went out at start
        # Every service consumes (at least the requests for a person's data): each has a queue and
        # dead letters; dead deliveries are notifications'; where a service has no such series, a dash.
        for cell in (queue, dlq):
            assert NUMBER.match(cell), (name, cell)
        assert NUMBER.match(dead) if name == "notifications" else dead == "—", (name, dead)


def test_a_service_at_a_closed_port_is_down_and_the_exit_code_is_1(dev):
    closed = f"http://127.0.0.1:{free_port()}"  # bound once, then released: nothing listens there
    # The services' own settings (PARTNERS_URL …) say where each is; travel's points nowhere.
    env = {f"{name.upper()}_URL": dev for name in SERVICES} | {"TRAVEL_URL": closed}
    result = status([], env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "1 of 4 not ready (travel)" in result.stdout
    found = rows(result.stdout)
    assert found["travel"] == ["travel", "DOWN", *["—"] * 7]
    assert f"travel down: connection refused ({closed})" in result.stdout
    assert all(found[name][1] == "ready" for name in SERVICES if name != "travel")

    # --url overrides the settings: travel asked where it is, all is well again.
    assert status(["--url", f"travel={dev}"], env).returncode == 0


def test_watch_redraws_until_ctrl_c(dev, tmp_path):
    out = tmp_path / "watch.txt"
    with open(out, "wb") as sink:
        # rich redraws in place only on an interactive terminal: these say the file is one.
        terminal = {"COLUMNS": "120", "NO_COLOR": "1", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}
        watch = subprocess.Popen([OIA, "status", "--url", dev, "--watch", "0.2"], cwd=ROOT, stdout=sink,
                                 stderr=subprocess.STDOUT, env={**os.environ, **terminal})
        try:
            deadline = time.monotonic() + 120
            while out.read_text(errors="replace").count("Diplomacity at") < 2:  # drawn, then redrawn
                assert watch.poll() is None, out.read_text(errors="replace")
                assert time.monotonic() < deadline, out.read_text(errors="replace")
                time.sleep(0.1)
            watch.send_signal(signal.SIGINT)
            assert watch.wait(timeout=30) == 0, out.read_text(errors="replace")
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait()
    text = out.read_text(errors="replace")
    assert "all 4 services ready" in text and "Traceback" not in text
