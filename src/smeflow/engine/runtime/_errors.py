"""The runtime's errors: each says, in words a tenant understands, why a step failed."""

from __future__ import annotations

from smeflow.errors import SMEFlowError


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
