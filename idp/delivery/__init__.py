"""Delivery of messages to people (email over SMTP, SMS through a gateway); errors are DeliveryError."""
from __future__ import annotations


class DeliveryError(Exception):
    """A message could not be handed over (refused, timed out, server down, not configured).

    The text names the channel and the reason, never the message itself (it may hold a code)."""
