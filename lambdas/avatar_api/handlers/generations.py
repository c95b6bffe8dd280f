"""Lambda function `generations` (avatar_contract.routes.GENERATIONS)."""

from __future__ import annotations

from avatar_api.app import build_app
from avatar_api.handlers import make_handler
from avatar_api.routers import generations, pack_jobs

app = build_app(generations.router, pack_jobs.router)
lambda_handler = make_handler(app)
