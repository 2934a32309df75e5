"""The WSGI entry point: gunicorn wsgi:app (settings in gunicorn.conf.py and COLORIZER_* variables)."""
import sys

from app import StartupError, create_app

try:
    app = create_app()
except StartupError as error:
    print(f"colorizer: {error}", file=sys.stderr)
    sys.exit(3)  # gunicorn's "worker failed to boot": the master stops instead of restarting workers forever
