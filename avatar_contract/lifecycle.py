"""Object tags the data bucket's lifecycle rules match (no dependencies).

The training input archive (`trainings/<owner>/<training_id>/input.tar.gz`) holds the user's selfies,
which are biometric personal data: the API writes it with this tag, and the bucket expires tagged objects
under `trainings/` after `trainingInputRetentionDays` (default 7). Records and previews carry no tag and
stay until the model is deleted. Uploads under `uploads/` expire by prefix, untagged.
"""

from __future__ import annotations

from typing import Final

TRAINING_INPUT_TAG_KEY: Final = "retention"
TRAINING_INPUT_TAG_VALUE: Final = "training-input"
# The `Tagging` argument of S3 PutObject / upload_fileobj ExtraArgs (URL-encoded query string).
TRAINING_INPUT_TAGGING: Final = f"{TRAINING_INPUT_TAG_KEY}={TRAINING_INPUT_TAG_VALUE}"
