"""The API's integration tests run the real handlers on moto (tests.fixtures.api_backend)."""

from tests.fixtures import api_backend
from tests.fixtures import moderation as moderation_fixtures

api = api_backend.api
faces_found_once = api_backend.faces_found_once
aws_test_environment = api_backend.aws_test_environment
moderation = moderation_fixtures.moderation
