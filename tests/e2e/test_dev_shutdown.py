"""`oia dev` stops as `oia serve` does on SIGTERM: the request in flight is answered, its trip is stored,
the services drain, and the process exits 0 (not killed by its own signal)."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

from tests.support.processes import free_port

pytestmark = pytest.mark.e2e

TITLE = "Trip booked while the host stops"


def test_sigterm_answers_the_request_in_flight_and_exits_0(start, tmp_path):
    port, data = free_port(), tmp_path / "data"
    dev = start(["dev"], {"OIA_PORT": str(port), "OIA_DATA_DIR": str(data), "OIA_SHUTDOWN_GRACE_SECONDS": "10"})
    dev.wait_healthy(f"http://127.0.0.1:{port}/travel/health")
    keys = {(k["role"], k["department"]): k["key"] for k in json.loads((data / "demo-keys.json").read_text())}
    body = json.dumps({"title": TITLE, "legs": [{"city": "Katowice", "country": "PL", "start_date": "2027-06-02",
                                                 "end_date": "2027-06-04"}]}).encode()

    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        # The headers only: the server answers 100 Continue once the application reads the body, so the
        # request is in flight, in the application's hands, when the signal comes.
        connection.sendall(
            f"POST /travel/trips HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {keys[('department', 'MAYOR')]}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            received = connection.recv(1)
            assert received, f"the server closed the connection:\n{dev.output()}"
            interim += received
        assert interim.startswith(b"HTTP/1.1 100 "), interim

        dev.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while "Shutting down" not in dev.log.read_text(errors="replace"):  # the whole log: the demo's lines follow
            assert time.monotonic() < deadline, f"no shutdown began:\n{dev.output()}"
            assert dev.proc.poll() is None, f"exited with the request in flight:\n{dev.output()}"
            time.sleep(0.05)
        connection.sendall(body)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        text = answer.read().decode()
    assert answer.status == 201, text

    try:
        code = dev.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"oia dev did not stop within 60 s of SIGTERM:\n{dev.output()}")
    assert code == 0, f"oia dev exited {code} on SIGTERM:\n{dev.output()}"
    with sqlite3.connect(data / "travel.db") as db:
        stored = db.execute("SELECT count(*) FROM trip WHERE title = ?", (TITLE,)).fetchone()[0]
    assert stored == 1, "the trip booked in flight is stored"


def test_the_board_exits_0_on_sigterm(start):
    """`oia serve board` (its own process in production) runs the same draining server (the tests above
    show it finishing a request in flight): on SIGTERM it stops and exits 0, not killed by the signal."""
    port = free_port()
    board = start(["serve", "board"], {"BOARD_PORT": str(port), "OIA_SHUTDOWN_GRACE_SECONDS": "10"})
    board.wait_healthy(f"http://127.0.0.1:{port}/board/health")
    board.proc.send_signal(signal.SIGTERM)
    try:
        code = board.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the board did not stop within 60 s of SIGTERM:\n{board.output()}")
    assert code == 0, f"the board exited {code} on SIGTERM:\n{board.output()}"
    assert "Shutting down" in board.log.read_text(errors="replace")
