"""Seed `make run`'s demo data, once: two accounts and a confidential demo client.

The admin gets an authenticator app (administrators must use a second factor): its base32 secret is in
demo.json next to the passwords, so you can add it to an authenticator app (or `oathtool --totp -b SECRET`).

Everything is created through the real `idp` command line (what an operator would type), and the
generated passwords and client credentials are kept in INSTANCE/demo.json (mode 0600). Running this again
creates nothing new: it checks demo.json against the database and only re-creates what is missing (for
example after the database file was deleted), reusing the saved passwords.

Usage: IDP_CONFIG=instance/config.toml .venv/bin/python scripts/demo_seed.py [--instance instance]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

RP_URL = "http://127.0.0.1:9000"
CLIENT_NAME = "Demo app"
REDIRECT_URI = f"{RP_URL}/callback"
POST_LOGOUT_REDIRECT_URI = f"{RP_URL}/"
BACKCHANNEL_LOGOUT_URI = f"{RP_URL}/backchannel-logout"   # the demo app ends its session when told

# (email, display name, admin)
ACCOUNTS = [
    ("admin@example.com", "", True),
    ("user@example.com", "Demo User", False),
]


def idp_command() -> list[str]:
    """The `idp` script next to this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "idp"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("idp")
    if found is None:
        sys.exit("demo_seed: the `idp` command was not found (run `make install` first)")
    return [found]


def idp(*args: str, stdin: str | None = None) -> str:
    """Run `idp ARGS`; stop with its error message when it fails."""
    result = subprocess.run([*idp_command(), *args], input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr or result.stdout)
        sys.exit(f"demo_seed: `idp {' '.join(args)}` failed (exit {result.returncode})")
    return result.stdout


def new_password() -> str:
    return secrets.token_urlsafe(15)  # 20 characters


def load_state(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        sys.exit(f"demo_seed: {path} is unreadable ({exc}); delete it (and the instance's database) to start over")


def save_state(path: Path, state: dict) -> None:
    """Write atomically, readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle, indent=2)
        handle.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def existing_users() -> set[str]:
    """Emails of the accounts in the database (`idp user list`: email<TAB>org<TAB>status<TAB>perms)."""
    return {line.split("\t", 1)[0] for line in idp("user", "list").splitlines() if line.strip()}


def enrol_authenticator(path: Path, state: dict, saved: dict, account: dict) -> None:
    """An authenticator app for a demo administrator (Administration requires a second factor)."""
    import pyotp

    account["totp_secret"] = account.get("totp_secret") or pyotp.random_base32()
    state["accounts"] = list(saved.values())
    save_state(path, state)  # before storing it: the secret is never lost
    idp("user", "totp", "import", account["email"], "--secret-stdin", stdin=account["totp_secret"] + "\n")
    print(f"demo_seed: gave {account['email']} an authenticator app (secret in {path})")


def existing_clients() -> set[str]:
    """client_ids in the database (`idp client list`: client_id<TAB>name<TAB>kind<TAB>redirect URIs)."""
    return {line.split("\t", 1)[0] for line in idp("client", "list").splitlines() if line.strip()}


def seed(instance: Path, config_path: str) -> dict:
    from idp.config import load_config

    config = load_config(config_path)
    path = instance / "demo.json"
    state = load_state(path)
    state["issuer"] = config.issuer
    state["rp_url"] = RP_URL
    state.setdefault("accounts", [])
    saved = {account["email"]: account for account in state["accounts"]}

    users = existing_users()
    for email, name, admin in ACCOUNTS:
        account = saved.setdefault(email, {"email": email, "password": None})
        account.update(name=name, admin=admin)
        if email in users:
            if not account.get("password"):
                print(f"demo_seed: {email} exists but its password is not in {path}; "
                      f"run `make clean` (or delete {instance}) to start over", file=sys.stderr)
            if admin and not account.get("totp_secret"):     # seeded before administrators needed one
                enrol_authenticator(path, state, saved, account)
            continue
        account["password"] = account.get("password") or new_password()
        args = ["user", "create", email, "--password-stdin"]
        args += ["--admin"] if admin else []
        args += ["--name", name] if name else []
        state["accounts"] = list(saved.values())
        save_state(path, state)  # before creating: a password is never lost
        idp(*args, stdin=account["password"] + "\n")
        print(f"demo_seed: created {email}{' (admin)' if admin else ''}")
        if admin:
            enrol_authenticator(path, state, saved, account)
    state["accounts"] = list(saved.values())

    client = state.get("client") or {}
    if client.get("client_id") not in existing_clients():
        created = json.loads(idp("client", "create", "--name", CLIENT_NAME, "--redirect-uri", REDIRECT_URI,
                                 "--post-logout-redirect-uri", POST_LOGOUT_REDIRECT_URI,
                                 "--backchannel-logout-uri", BACKCHANNEL_LOGOUT_URI, "--json"))
        state["client"] = {"client_id": created["client_id"], "client_secret": created["client_secret"],
                           "redirect_uri": REDIRECT_URI, "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI}
        save_state(path, state)
        print(f"demo_seed: registered the client {CLIENT_NAME!r} ({created['client_id']})")
    save_state(path, state)
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="instance", help="the instance folder (default: instance)")
    args = parser.parse_args()
    instance = Path(args.instance)
    config_path = os.environ.get("IDP_CONFIG") or str(instance / "config.toml")
    os.environ["IDP_CONFIG"] = config_path
    if not Path(config_path).exists():
        sys.exit(f"demo_seed: {config_path} not found (run `idp init {instance} --development` first)")
    seed(instance, config_path)
    print(f"demo_seed: demo credentials are in {instance / 'demo.json'}")


if __name__ == "__main__":
    main()
