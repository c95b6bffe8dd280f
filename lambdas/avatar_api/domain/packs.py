"""The packs on offer (docs/packs.md): the curated ones shipped with the code and the operator's
(cdk.json `operatorPacksFile`), as `avatar_contract.packs` loads and validates them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from avatar_contract.packs import Pack, all_packs


class ListedPack(Pack):
    total_images: int = Field(..., description="Images one run of the pack yields")


class PackList(BaseModel):
    packs: list[ListedPack] = Field(..., description="Curated packs first, then the operator's")


def list_packs() -> PackList:
    return PackList(packs=[ListedPack(**dict(pack), total_images=pack.images) for pack in all_packs()])
