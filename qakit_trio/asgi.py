"""The ASGI app for `hypercorn --worker-class trio qakit_trio.asgi:app`.

Settings come from the environment, read once here; a bad value stops start-up with a message
that names the variable.
"""

from __future__ import annotations

import os

from qakit_trio.app import create_app
from qakit_trio.config import load_settings
from qakit_trio.errors import ConfigError
from qakit_trio.logs import setup_logging
from qakit_trio.server import tune_gc, tune_malloc
from qakit_trio.transport import hyper_ext

try:
    settings = load_settings(os.environ)
except ConfigError as error:
    raise SystemExit(f"qakit_trio: configuration error: {error}") from None
setup_logging(settings.log_level)
if settings.fast_path:  # hypercorn imports this module before it builds its worker's server
    hyper_ext.install()
app = create_app(settings)
tune_gc()
tune_malloc()
