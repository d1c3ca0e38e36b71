"""Factor `sms` (step type `sms_otp`): a 6-digit code texted to the person's confirmed phone number."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from idp.factors import enrolled
from idp.factors.enrolment import Enrolment
from idp.factors.registry import register_factor
from idp.factors.side_channel import SideChannelFactor
from idp.flow.outcome import Outcome

if TYPE_CHECKING:
    from idp.services import Services


@register_factor
class SmsCode(SideChannelFactor):
    kind = "sms_otp"
    factor = "sms"
    title = label = "SMS"
    in_a_sentence = "text message codes"
    order = 2
    admin_label = "SMS OTP"
    description = "A code is texted to your phone each time you sign in. A fallback when email is not available."
    enrol_in_sign_in = True
    enrol_endpoint = "account.enable_sms"
    enrol_method = "get"
    amr = ("sms",)

    enrol_stages = ("sms_phone", "sms_code")

    def enrol_begin(self, enrolment: Enrolment) -> Outcome:
        return enrolment.stage("sms_phone")

    def enrol_submit(self, enrolment: Enrolment, stage: str, form: Mapping[str, str]) -> Outcome:
        """The phone number (validated, a code texted to it), then that code."""
        if stage != "sms_phone":
            return super().enrol_submit(enrolment, stage, form)
        ctx, phone = enrolment.ctx, (form.get("phone") or "").strip()[:40]
        try:
            factor, sent = enrolled.start_sms_enrolment(ctx.db, ctx.services, ctx.user, phone,
                                                        bound_to=enrolment.bound_to())
        except enrolled.FactorError as exc:
            return Outcome.retry(str(exc), counts_as_failure=False, phone=phone)
        return self.enrol_sent(enrolment, "sms_code", factor, sent, phone=phone)

    def enrol_view(self, enrolment: Enrolment, stage: str) -> dict[str, Any]:
        return {} if stage == "sms_phone" else super().enrol_view(enrolment, stage)

    @classmethod
    def available(cls, services: "Services") -> bool:
        return bool(services.sms.enabled)

    @classmethod
    def describe(cls, row: Any) -> str:
        return enrolled.mask_phone(row.target or "")
