"""The runtime's errors: each says, in words a tenant understands, why a step failed."""

from __future__ import annotations

from smeflow.errors import NotAuthenticated, SMEFlowError


class StepFailed(SMEFlowError):
    """A step failed for good (after its retries): the run takes the node's ``on_error`` or fails."""

    code = "step_failed"
    status = 422
    title = "A step of the run failed"


class TransientStepError(StepFailed):
    """A step failed for a reason that may pass (a timeout, a 5xx answer): it is retried."""

    code = "step_transient_error"
    retryable = True


class UnsupportedNode(SMEFlowError):
    """The workflow uses a node kind the runtime cannot execute yet."""

    code = "unsupported_node"
    status = 422
    title = "The workflow uses a step the runtime cannot run yet"


class SignatureInvalid(NotAuthenticated):
    """A webhook call whose signature is missing, wrong or too old."""

    code = "signature_invalid"
    title = "The request's signature is not valid"
