"""`idp outbox drain` / `idp outbox list`: the outbound job queue (idp.outbox) from the command line."""
from __future__ import annotations

import click

from idp.outbox import queue
from idp.outbox.worker import drain

from .base import CliState, cli, pass_state

STATUSES = ("pending", "done", "dead")


@cli.group("outbox")
def outbox_group() -> None:
    """Mail and other deliveries queued by the server (sent after each request by its workers)."""


@outbox_group.command("drain")
@click.option("--max", "max_jobs", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Stop after this many jobs.")
@pass_state
def drain_command(state: CliState, max_jobs: int) -> None:
    """Deliver every due job now (safe while servers run: each job is claimed by one worker only)."""
    result = drain(state.services, max_jobs=max_jobs)
    click.echo(f"sent {result.sent}, failed and retried later {result.retried}, given up (dead) {result.dead}")


@outbox_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only jobs in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@pass_state
def list_command(state: CliState, status: str | None, limit: int) -> None:
    """Jobs, newest first: id, kind, status, attempts, next attempt, last error (never the message itself)."""
    with state.session() as db:
        counts = queue.counts(db)
        click.echo("  ".join(f"{name}: {counts.get(name, 0)}" for name in STATUSES))
        for job in queue.listing(db, status, limit):
            when = job.finished_at if job.status != "pending" else job.next_attempt_at
            click.echo("\t".join([str(job.id), job.kind, job.status, f"attempts={job.attempts}",
                                  when.isoformat(timespec="seconds") if when else "-", job.last_error or ""]))
