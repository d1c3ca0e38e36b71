"""`make run`'s launcher: the IdP (`idp serve`, gunicorn) on :8000 and the demo app on :9000, plus a banner.

It waits for both to answer, prints what to open and the demo credentials (from INSTANCE/demo.json), and
stays in the foreground: when the IdP stops, or on Ctrl-C / SIGTERM, it stops both.

Usage: IDP_CONFIG=instance/config.toml .venv/bin/python scripts/run_demo.py [--instance instance]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IDP_ADDRESS = ("127.0.0.1", 8000)
RP_ADDRESS = ("127.0.0.1", 9000)
READY_TIMEOUT = 60.0


def die_with_parent() -> None:
    """Linux: the child gets SIGTERM if this launcher dies without cleaning up (e.g. SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def port_in_use(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(address) == 0


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, even if not with 200
    except (OSError, ValueError):
        return False


def idp_command() -> list[str]:
    beside = Path(sys.executable).parent / "idp"
    return [str(beside)] if beside.exists() else [shutil.which("idp") or "idp"]


def banner(demo: dict, issuer: str) -> str:
    """What to open; the IdP's pages use the issuer's host name (localhost: passkeys refuse IP addresses)."""
    client = demo.get("client", {})
    lines = [
        "",
        "=" * 78,
        " Fentu IdP is running (development instance)",
        "",
        f"   Demo app (a relying party):   {demo.get('rp_url', 'http://127.0.0.1:9000')}/",
        f"   The IdP's own pages:          {issuer}/account/security",
        f"   Discovery document:           {issuer}/.well-known/openid-configuration",
        f"   Emails and SMS it sent:       {issuer}/dev/outbox",
        "                                 (sign-in codes, reset links: nothing leaves this machine)",
        "   Back-channel logout:          sign the browser out at the IdP (or from Profile > Security in",
        "                                 another one): the demo app is told and shows it on its next page",
        "",
        " Accounts:",
    ]
    for account in demo.get("accounts", []):
        role = "admin" if account.get("admin") else "user"
        lines.append(f"   {account['email']:<22} password {account.get('password') or '(unknown)':<24} ({role})")
        if account.get("totp_secret"):
            lines.append(f"   {'':<22} authenticator secret {account['totp_secret']} (add it to an app)")
    lines += [
        "",
        f" Demo client:   client_id     {client.get('client_id', '?')}",
        f"                client_secret {client.get('client_secret', '?')}",
        f"                redirect_uri  {client.get('redirect_uri', '?')}",
        "",
        *ip_issuer_warning(issuer),
        " Stop with Ctrl-C. Everything lives in the instance folder; `make clean` deletes it.",
        "=" * 78,
        "",
    ]
    return "\n".join(lines)


def ip_issuer_warning(issuer: str) -> list[str]:
    """An instance made before `idp init` defaulted to localhost: passkeys cannot work with an IP address."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        ipaddress.ip_address(urlsplit(issuer).hostname or "")
    except ValueError:
        return []
    return [" Note: the issuer is an IP address, which browsers refuse for passkeys. `make clean && make run`",
            "       makes a new instance on http://localhost:8000.", ""]


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def stop(process: subprocess.Popen | None, name: str) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        print(f"run_demo: {name} did not stop in 15 s; killing it", file=sys.stderr)
        process.kill()
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="instance")
    args = parser.parse_args()
    instance = Path(args.instance)
    config_path = os.environ.get("IDP_CONFIG") or str(instance / "config.toml")
    demo_file = (instance / "demo.json").resolve()
    if not demo_file.exists():
        print(f"run_demo: {demo_file} is missing; run scripts/demo_seed.py first", file=sys.stderr)
        return 1
    demo = json.loads(demo_file.read_text())

    from idp.config import load_config

    issuer = load_config(config_path).issuer
    for address, what in ((IDP_ADDRESS, "the IdP"), (RP_ADDRESS, "the demo app")):
        if port_in_use(address):
            print(f"run_demo: {address[0]}:{address[1]} is already in use; stop whatever listens there "
                  f"before starting {what}", file=sys.stderr)
            return 1

    # SIGTERM (e.g. from a supervisor) ends the launcher the way Ctrl-C does.
    signal.signal(signal.SIGTERM, interrupted)

    env = dict(os.environ, IDP_CONFIG=config_path, DEMO_FILE=str(demo_file), PYTHONUNBUFFERED="1")
    rp = idp = None
    try:
        rp = subprocess.Popen([sys.executable, str(ROOT / "examples" / "demo_rp.py")], env=env,
                              preexec_fn=die_with_parent)
        idp = subprocess.Popen([*idp_command(), "serve", "--host", IDP_ADDRESS[0], "--port", str(IDP_ADDRESS[1])],
                               env=env, preexec_fn=die_with_parent)
        discovery = f"{issuer}/.well-known/openid-configuration"
        local_discovery = f"http://{IDP_ADDRESS[0]}:{IDP_ADDRESS[1]}/.well-known/openid-configuration"
        deadline = time.monotonic() + READY_TIMEOUT
        while not (answers(local_discovery) and answers(f"http://{RP_ADDRESS[0]}:{RP_ADDRESS[1]}/")):
            if idp.poll() is not None:
                print(f"run_demo: `idp serve` exited with status {idp.returncode}", file=sys.stderr)
                return idp.returncode or 1
            if rp.poll() is not None:
                print(f"run_demo: the demo app exited with status {rp.returncode}", file=sys.stderr)
                return rp.returncode or 1
            if time.monotonic() > deadline:
                print(f"run_demo: nothing answered at {discovery} within {READY_TIMEOUT:.0f} s", file=sys.stderr)
                return 1
            time.sleep(0.3)
        print(banner(demo, issuer), flush=True)

        while idp.poll() is None:
            if rp is not None and rp.poll() is not None:
                print(f"run_demo: the demo app stopped (status {rp.returncode}); the IdP keeps running",
                      file=sys.stderr)
                rp = None
            time.sleep(0.5)
        print(f"run_demo: `idp serve` stopped (status {idp.returncode})", file=sys.stderr)
        return idp.returncode
    except KeyboardInterrupt:
        print("\nrun_demo: stopping", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave children behind
        stop(rp, "the demo app")
        stop(idp, "the IdP")


if __name__ == "__main__":
    sys.exit(main())
