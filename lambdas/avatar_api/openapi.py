"""Write the OpenAPI document of every route: `python -m avatar_api.openapi [PATH]` (default
docs/openapi.json at the repository root). A test checks the committed file is current."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from avatar_api.app import API_DESCRIPTION, API_TITLE, API_VERSION, app

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def openapi_document() -> str:
    schema = json.loads(
        app.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            description=API_DESCRIPTION,
            # API Gateway's AWS_IAM authorization: a SigV4 `Authorization` header (service execute-api).
            security_schemes={
                "sigv4": APIKey(
                    name="Authorization",
                    in_=APIKeyIn.header,
                    description="AWS Signature Version 4 (service `execute-api`)",
                    openapi_extensions={"x-amazon-apigateway-authtype": "awsSigv4"},
                )
            },
            security=[{"sigv4": []}],
        )
    )
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(openapi_document())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
