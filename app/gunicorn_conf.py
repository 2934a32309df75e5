"""gunicorn settings for a small CPU server.

In a checkout, `gunicorn wsgi:app` reads them through gunicorn.conf.py in the working directory; installed
(pip install .), `gunicorn -c python:app.gunicorn_conf app.wsgi:app` from any folder.

Each worker loads the model itself, after the fork: loading it in the master with preload_app and then forking
can deadlock in torch's thread pool. Workers x torch threads = cores, so they do not fight over cores.
Every setting can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""
import os

cores = os.cpu_count() or 1
bind = os.environ.get("COLORIZER_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("COLORIZER_WORKERS", min(cores, 2)))
threads = 1  # one request at a time per worker: torch already uses the cores
os.environ.setdefault("COLORIZER_TORCH_THREADS", str(max(1, cores // workers)))
preload_app = False
timeout = 60  # a request still running after this is killed and its worker replaced
graceful_timeout = 30
max_requests = 2000  # recycle workers now and then: bounds any slow growth of memory
max_requests_jitter = 200
limit_request_line = 4094
accesslog = "-"
