"""The WSGI entry point of a checkout: gunicorn wsgi:app (the app itself is app/wsgi.py, also when installed)."""
from app.wsgi import app  # noqa: F401
