#!/usr/bin/env python3
"""CDK entry point (`cdk synth` / `make synth`): see stacks/application.py and docs/configuration.md."""

import sys

from stacks.application import create_app
from stacks.config import ConfigError

try:
    app = create_app()
except ConfigError as error:  # a clear one-line message instead of a traceback
    sys.exit(f"Invalid configuration: {error}")
app.synth()
