"""Step `sms_otp`: a 6-digit code texted to the person's confirmed phone number."""
from __future__ import annotations

from idp.flow.registry import register_step

from ._side_channel import SideChannelStep


@register_step
class SmsOtpStep(SideChannelStep):
    kind = "sms_otp"
    title = "SMS"
    amr = ("sms",)
    channel = "sms"
