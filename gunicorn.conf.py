"""gunicorn reads this file from the working directory: the settings are app/gunicorn_conf.py, also when installed."""
from app.gunicorn_conf import *  # noqa: F401,F403
