"""The payments simulator: plays MTN MoMo's collection API (request-to-pay) for the SUT.

The SUT asks for a payment with ``POST /collection/v1_0/requesttopay`` (``X-Reference-Id`` names it),
gets ``202 Accepted``, and learns the outcome from a signed callback or by polling
``GET /collection/v1_0/requesttopay/{referenceId}``. MTN sends the callback once and never retries it, so
a partner must poll (https://momodeveloper.mtn.com/api-documentation/callback); each poll is counted.

Fault rules (``/_sim/faults``, key the payer number) are the one switch that chooses how a payment ends;
with no rule it is SUCCESSFUL after ``approve_delay_seconds``, whatever the number. Op ``requesttopay``:
``drop`` (PENDING for ever), ``decline`` (FAILED, ``reason`` one of MTN's, default ``APPROVAL_REJECTED``),
``slow_callback`` (SUCCESSFUL after ``seconds``), ``duplicate_callback`` (sent twice, ``seconds`` apart)
and the shared ``status`` / ``delay`` / ``hang`` / ``malformed`` / ``reset`` (no payment unless delayed);
op ``callback`` on a resolved payment's first callback: ``delay`` (out of order), ``drop`` (lost: the SUT
must poll), ``malformed`` (signed, not JSON); op ``poll``: the shared actions on the status query.

Modules: ``model`` (the MoMo request as pydantic models, the payment record), ``outcomes`` (rule to
outcome, MoMo's errors), ``callbacks`` (signing, delivery), ``simulator`` (state, resolutions), ``app``.
"""
