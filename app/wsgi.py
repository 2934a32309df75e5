"""The WSGI entry point: `gunicorn -c python:app.gunicorn_conf app.wsgi:app` (or, in a checkout, `gunicorn wsgi:app`);
settings in app/gunicorn_conf.py and COLORIZER_* variables."""
import sys

from app import StartupError, create_app

try:
    app = create_app()
except StartupError as error:
    print(f"colorizer: {error}", file=sys.stderr)
    sys.exit(3)  # gunicorn's "worker failed to boot": the master stops instead of restarting workers forever
