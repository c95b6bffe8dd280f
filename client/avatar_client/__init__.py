"""Client SDK for the Personalized Avatar Service: SigV4-signed calls to its REST API, selfie
preparation, waiting for trainings (SQS notifications or polling) and image generation."""

from avatar_client.client import AvatarApiError, AvatarClient, GeneratedImages, TrainingTimeout
from avatar_client.notifications import parse_notification
from avatar_client.packs import PACK_FINISHED, PackTimeout
from avatar_client.selfies import MAX_SIDE, prepare_selfie
from avatar_client.webhooks import verify_webhook

__all__ = [
    "MAX_SIDE",
    "PACK_FINISHED",
    "AvatarApiError",
    "AvatarClient",
    "GeneratedImages",
    "PackTimeout",
    "TrainingTimeout",
    "parse_notification",
    "prepare_selfie",
    "verify_webhook",
]
