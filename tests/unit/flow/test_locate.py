"""The line locator: where a key of a policy file was written, since tomllib does not say."""
from __future__ import annotations

from idp.flow.locate import Locator

# --- the line locator ---------------------------------------------------------------------------------------

def test_locator_tracks_steps_keys_and_skips_strings():
    text = '''# comment
description = """
[[step]]
type = "not a step"
"""
[[step]]  # first
  "type" = "x"
when.admin = true

[[ step ]]
requirement = "required"
[step.when]
admin = true
'''
    locator = Locator.from_text(text)
    assert locator.top("description") == 2 and locator.top("missing") == 1
    assert locator.step_headers == [6, 10]
    assert (locator.step(0, "type"), locator.step(0, "when"), locator.step(0, "requirement")) == (7, 8, 6)
    assert (locator.step(1, "requirement"), locator.step(1, "when"), locator.step(1, "admin")) == (11, 12, 10)
    assert locator.step(5, "type") == 1
