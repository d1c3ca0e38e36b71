"""Development only: every email and SMS the server "sends" kept in a file of the instance folder, for /dev/outbox.

Plain text by design (codes and links readable on the page): the config refuses the `outbox` providers unless
`development = true`. A JSON-lines file, appended under an exclusive lock, is shared by every worker of the
one machine a development server runs on (it is written inside requests, where a second database connection
would wait for the request's own write lock on SQLite)."""
from __future__ import annotations

import fcntl
import json
from dataclasses import dataclass
from pathlib import Path

from idp.clock import now

from . import DeliveryError

FILE_NAME = "dev-outbox.jsonl"
KEEP = 200                 # messages kept when the file is compacted
COMPACT_AT = 512 * 1024    # bytes


@dataclass(frozen=True)
class DevMessage:
    channel: str           # "email" | "sms"
    to: str
    subject: str
    body: str
    at: str                # ISO 8601, UTC


class DevOutbox:
    def __init__(self, instance_dir: str | Path) -> None:
        self.path = Path(instance_dir) / FILE_NAME

    def add(self, channel: str, to: str, subject: str, body: str) -> None:
        line = json.dumps({"channel": channel, "to": to, "subject": subject, "body": body,
                           "at": now().isoformat(timespec="seconds")}) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a+", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.write(line)
                handle.flush()
                if handle.tell() > COMPACT_AT:
                    self._compact(handle)
        except OSError as exc:
            raise DeliveryError(f"the development outbox could not be written ({type(exc).__name__})") from None

    def _compact(self, handle) -> None:  # noqa: ANN001 - an open, locked text file
        handle.seek(0)
        kept = handle.readlines()[-KEEP:]
        handle.seek(0)
        handle.truncate()
        handle.writelines(kept)

    def messages(self, limit: int = 100) -> list[DevMessage]:
        """Newest first."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)
                lines = handle.readlines()
        except FileNotFoundError:
            return []
        found = []
        for line in reversed(lines[-limit:]):
            try:
                found.append(DevMessage(**json.loads(line)))
            except (ValueError, TypeError):
                continue
        return found
