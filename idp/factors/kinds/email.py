"""Factor `email` (step type `email_otp`): a 6-digit code emailed to the person's confirmed address."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idp.factors import enrolled
from idp.factors.enrolment import Enrolment
from idp.factors.registry import register_factor
from idp.factors.side_channel import SideChannelFactor
from idp.flow.outcome import Outcome

if TYPE_CHECKING:
    from idp.services import Services


@register_factor
class EmailCode(SideChannelFactor):
    kind = "email_otp"
    factor = "email"
    title = label = "Email"
    in_a_sentence = "email codes"
    order = 1
    admin_label = "Email OTP"
    description = "A code is emailed to you each time you sign in. For people without a smartphone."
    enrol_in_sign_in = True
    enrol_endpoint = "account.enable_email"
    amr = ("otp",)

    enrol_stages = ("email_code",)

    def enrol_begin(self, enrolment: Enrolment) -> Outcome:
        """The account's own address: no second code when the sign-in just confirmed one sent there."""
        ctx = enrolment.ctx
        if enrolment.state.get("email_verified"):
            return enrolment.verified(enrolled.new_pending(ctx.db, ctx.user, self.factor, ctx.user.email))
        factor, sent = enrolled.start_email_enrolment(ctx.db, ctx.services, ctx.user, bound_to=enrolment.bound_to())
        return self.enrol_sent(enrolment, "email_code", factor, sent)

    @classmethod
    def available(cls, services: "Services") -> bool:
        return bool(services.mailer.enabled)

    @classmethod
    def describe(cls, row: Any) -> str:
        return enrolled.mask_email(row.target or "")
