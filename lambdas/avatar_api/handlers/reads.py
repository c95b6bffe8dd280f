"""Lambda function `reads` (avatar_contract.routes.READS): the read-only routes (packs included) and upload
slots."""

from __future__ import annotations

from avatar_api.app import build_app
from avatar_api.handlers import make_handler
from avatar_api.routers import models, pack_jobs, packs, trainings

app = build_app(trainings.read_router, models.read_router, packs.read_router, pack_jobs.read_router)
lambda_handler = make_handler(app)
