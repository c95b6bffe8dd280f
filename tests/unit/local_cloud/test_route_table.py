"""The local cloud's gateway dispatches by the route table: the read-only routes and upload slots go to
the `reads` function's own workers, apart from `POST /trainings` (issue 21 M3)."""

from __future__ import annotations

import pytest

from avatar_contract import routes
from local_cloud.apigateway import RouteTable


@pytest.mark.parametrize(
    ("method", "path", "function"),
    [
        ("POST", "/trainings", routes.TRAININGS),
        ("GET", "/trainings/t-abc", routes.READS),
        ("GET", "/models", routes.READS),
        ("GET", "/webhooks/secret", routes.READS),
        ("POST", "/uploads", routes.READS),
        ("DELETE", "/models/m-abc", routes.MODELS),
        ("POST", "/models/m-abc/generations", routes.GENERATIONS),
    ],
)
def test_each_route_reaches_its_function(method: str, path: str, function: routes.Function) -> None:
    matched = RouteTable().match(method, path)
    assert matched is not None and matched[0].function == function


def test_every_function_of_the_table_is_one_local_function() -> None:
    """LocalCloud starts one worker pool per `routes.FUNCTIONS` entry (local_cloud/cloud.py)."""
    assert [f.name for f in routes.FUNCTIONS] == ["trainings", "reads", "models", "generations"]
    assert {route.function for route in routes.ROUTES} == set(routes.FUNCTIONS)
