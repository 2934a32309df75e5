"""gunicorn settings for a small CPU server.

In a checkout, `gunicorn wsgi:app` reads them through gunicorn.conf.py in the working directory; installed
(pip install .), `gunicorn -c python:app.gunicorn_conf app.wsgi:app` from any folder.

Each worker loads the model itself, after the fork: loading it in the master with preload_app and then forking
can deadlock in torch's thread pool. Workers x torch threads = cores, so they do not fight over cores.
Every setting can be overridden on the command line or with GUNICORN_CMD_ARGS.

Video jobs. With the embedded queue (no COLORIZER_REDIS_URL) and COLORIZER_JOB_THREADS left to auto, the master
starts one `python -m app.worker` beside the web workers, with a thread per web worker, and the web workers run
none: a web worker is replaced every max_requests requests, and killed when a request outlives the timeout, and a
film running in it would go with it. The master lives as long as the service; its video worker is started again
if it dies and stopped (its running videos handed back to the queue) when the master stops. With Redis, run
`python -m app.worker` yourself (README, "Running workers"); a COLORIZER_JOB_THREADS that is set is obeyed as it is.
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

# The video worker beside the web workers (see above). The web workers inherit JOB_THREADS=0 from the master.
job_process = not os.environ.get("COLORIZER_REDIS_URL") and os.environ.get("COLORIZER_JOB_THREADS", "auto") == "auto"
if job_process:
    os.environ["COLORIZER_JOB_THREADS"] = "0"


def when_ready(server):
    if job_process:
        from app.worker import JobProcess
        server.colorizer_jobs = JobProcess(threads=server.cfg.workers).start()


def on_reload(server):
    """SIGHUP: new code and settings for the web workers, and for the video worker (its videos are handed back)."""
    running = getattr(server, "colorizer_jobs", None)  # this module is read again on reload: ask the server
    if running is not None:
        running.stop(timeout=graceful_timeout)
        server.colorizer_jobs = type(running)(threads=server.cfg.workers).start()


def on_exit(server):
    running = getattr(server, "colorizer_jobs", None)
    if running is not None:
        running.stop(timeout=graceful_timeout)
