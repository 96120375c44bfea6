"""The four identity-agnostic motion tokens (face, body, left hand, right hand), retargeting and the clip file."""
