"""Lambda function `models` (avatar_contract.routes.MODELS)."""

from __future__ import annotations

from avatar_api.app import build_app
from avatar_api.handlers import make_handler
from avatar_api.routers import models

app = build_app(models.router)
lambda_handler = make_handler(app)
