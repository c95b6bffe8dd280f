"""A stand-in `sd_base` that always fails the way a GPU out of memory fails (torch's own message).

Used to check that the per-user model passes the base model's error through unchanged and that Triton's
SageMaker front end turns it into HTTP 507.
"""

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        message = "out of memory: OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
        return [pb_utils.InferenceResponse(error=pb_utils.TritonError(message)) for _ in requests]
