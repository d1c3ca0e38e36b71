"""The queue under `idp serve` (gunicorn, two workers, each with its drainer thread): with a mail server that
takes 2 s per message, several "Forgot password?" pages still answer at once, and every link arrives exactly
once, sent after the responses."""
from __future__ import annotations

import re
import time

import httpx

from tests.support.configs import write_config_file
from tests.support.servers import IdpProcess, free_port
from tests.support.slow_smtp import slow_smtp  # noqa: F401  (fixture)
from tests.support.smtp import email_config

PEOPLE = [f"person{n}@example.com" for n in range(4)]


def ask(http: httpx.Client, url: str, email: str) -> float:
    page = http.get(f"{url}/forgot-password")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    began = time.monotonic()
    done = http.post(f"{url}/forgot-password", data={"csrf_token": token, "email": email})
    assert done.status_code == 200 and "Check your email" in done.text
    return time.monotonic() - began


def test_two_workers_answer_at_once_and_send_each_link_once(factory, database_url, tmp_path, slow_smtp):  # noqa: ANN001, F811
    for email in PEOPLE:
        factory.user(email)
    port = free_port()
    config_file = write_config_file(tmp_path / "config.toml", database_url, f"http://127.0.0.1:{port}",
                                    email={**email_config(slow_smtp), "timeout_seconds": 10.0},
                                    outbox={"sweep_interval_seconds": 1.0})
    with IdpProcess(config_file, port, workers=2) as server, httpx.Client(timeout=10) as http:
        took = [ask(http, server.url, email) for email in PEOPLE + ["nobody@example.com"]]
        assert max(took) < 1.0, took
        for email in PEOPLE:
            slow_smtp.wait_for(email, "Reset your", timeout=30)
        time.sleep(1.5)                      # a second delivery would have shown by now
    assert sorted(r[0] for r, _ in slow_smtp.messages) == sorted(PEOPLE)
