"""Lambda function `trainings` (avatar_contract.routes.TRAININGS)."""

from __future__ import annotations

from avatar_api.app import build_app
from avatar_api.handlers import make_handler
from avatar_api.routers import trainings

app = build_app(trainings.router)
lambda_handler = make_handler(app)
