"""Step `email_otp`: a 6-digit code emailed to the person's confirmed address."""
from __future__ import annotations

from idp.flow.registry import register_step

from ._side_channel import SideChannelStep


@register_step
class EmailOtpStep(SideChannelStep):
    kind = "email_otp"
    title = "Email"
    amr = ("otp",)
    channel = "email"
