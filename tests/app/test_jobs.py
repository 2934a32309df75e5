"""The video queue (app/jobs.py): the same tests on the embedded queue (SQLite, worker threads in the web
process) and on Redis (a real redis-server, two real `python -m app.worker` processes).

Jobs run the real model.video through tests/app/slow_video.py, which pauses after each frame so that a test can
act while a job runs. The Redis tests need Debian's redis-server: without it they are skipped, except in CI.
"""
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import redis

from app import create_app
from app.jobs import State
from tests.app.video_files import frames_of, post_video, synthetic_video

ROOT = Path(__file__).resolve().parents[2]
SLOW = "tests.app.slow_video:colorize_video"
LEASE = 3  # seconds: a running job with no beat for this long is started again
FRAME_DELAY = 0.15  # seconds after each frame (tests/app/slow_video.py)
QUICK, LONG = 6, 40  # frames: a job of about 1 s, and one of about 6 s


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def stopped_at_exit(process: subprocess.Popen):
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def redis_binary() -> str:
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                              else None)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; CI must install it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server): the Redis queue is not tested")
    return binary


def answers(client: redis.Redis) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    binary = redis_binary()
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                               "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with stopped_at_exit(server):
        client = redis.Redis(port=port)

        def answers() -> bool:
            assert server.poll() is None, "redis-server exited at start"
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(answers, 30, "redis-server to answer")
        client.close()
        yield f"redis://127.0.0.1:{port}"


@dataclass
class Backend:
    """One kind of queue: the settings that point the web app and workers at it, and fresh queues of its kind."""
    kind: str
    root: Path
    redis_url: str = ""
    workers: list = field(default_factory=list)  # the module's worker processes (Redis)
    used: set = field(default_factory=set)

    def queue(self, number: int) -> dict:
        """Settings of queue `number` of this kind, empty when first asked for: its own folder, and for Redis its
        own database. Queue 0 is the one the module's workers (Redis) read; each test that needs an empty queue
        takes a number of its own."""
        settings = {"JOB_FOLDER": str(self.queue_folder(number)), "JOB_LEASE": LEASE, "VIDEO_FUNCTION": SLOW}
        if self.kind == "redis":
            settings["REDIS_URL"] = f"{self.redis_url}/{number}"
            if number not in self.used:
                with contextlib.closing(redis.Redis.from_url(settings["REDIS_URL"])) as client:
                    client.flushdb()
        self.used.add(number)
        return settings

    def queue_folder(self, number: int) -> Path:
        return self.root / f"jobs{number}"


def worker_env(settings: dict, weights: Path) -> dict:
    env = dict(os.environ, COLORIZER_WEIGHTS=str(weights), COLORIZER_TORCH_THREADS="1")
    env.update({f"COLORIZER_{name}": str(value) for name, value in settings.items()})
    return env


@contextlib.contextmanager
def worker_processes(count: int, settings: dict, weights: Path, logs: Path):
    """`count` real `python -m app.worker` processes on the queue of `settings`, stopped after."""
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        processes = []
        for number in range(count):
            log = stack.enter_context(open(logs / f"worker{number}.log", "w"))
            process = subprocess.Popen([sys.executable, "-m", "app.worker"], cwd=ROOT, stdout=log,
                                       stderr=subprocess.STDOUT, env=worker_env(settings, weights))
            processes.append(stack.enter_context(stopped_at_exit(process)))
        for number, process in enumerate(processes):
            text = lambda: (logs / f"worker{number}.log").read_text()  # noqa: E731
            wait_for(lambda: "ready" in text() or process.poll() is not None, 240, "a worker to start")
            assert process.poll() is None, f"the worker exited at start:\n{text()}"
        yield processes


@pytest.fixture(scope="module", params=["embedded", pytest.param("redis", marks=pytest.mark.slow)])
def backend(request, tmp_path_factory, tiny_weights):
    root = tmp_path_factory.mktemp(f"queue-{request.param}")
    markers = root / "markers"
    markers.mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COLORIZER_TEST_MARKERS", str(markers))  # read by slow_video, here and in the workers
        env.setenv("COLORIZER_TEST_FRAME_DELAY", str(FRAME_DELAY))
        if request.param == "embedded":
            yield Backend("embedded", root)
        else:
            backend = Backend("redis", root, request.getfixturevalue("redis_server"))
            with worker_processes(2, backend.queue(0), tiny_weights, root / "logs") as workers:
                backend.workers = workers
                yield backend


@pytest.fixture
def make_app(tiny_weights):
    """create_app on a queue's settings; each app's threads are stopped after the test."""
    apps = []

    def make(settings: dict, **overrides):
        app = create_app({"TESTING": True, "WEIGHTS": str(tiny_weights), **settings, **overrides})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["jobs"].close(hand_back=False)


def state(client, job_id: str) -> dict:
    response = client.get(f"/videos/{job_id}")
    assert response.status_code == 200, response.json
    return response.json


def submit(client, frames: int, name: str = "film.mp4") -> str:
    response = post_video(client, synthetic_video(frames), name)
    assert response.status_code == 202, response.json
    return response.json["id"]


def wait_state(client, job_id: str, states: tuple, timeout: float = 120) -> dict:
    return wait_for(lambda: (lambda s: s["state"] in states and s)(state(client, job_id)), timeout,
                    f"job {job_id} to be {' or '.join(states)}")


def running_with_progress(client, job_id: str) -> dict:
    return wait_for(lambda: (lambda s: s["state"] == "running" and s["frames_done"] >= 2 and s)(state(client, job_id)),
                    120, "the job to run and report progress")


# --- the same job tests on both queues -----------------------------------------------------------------------

def test_a_job_reports_progress_then_its_result_is_the_colorized_video(backend, make_app):
    app = make_app(backend.queue(0))  # embedded: a worker thread in this process; Redis: the two worker processes
    client = app.test_client()
    posted = time.time()
    response = post_video(client, synthetic_video(12), "old film.mp4")
    assert response.status_code == 202
    job_id = response.json["id"]
    assert response.json["url"] == response.headers["Location"] == f"/videos/{job_id}"
    seen = []
    while not seen or seen[-1]["state"] in ("queued", "running"):
        seen.append(state(client, job_id))
        time.sleep(0.1)
    assert seen[0]["state"] in ("queued", "running") and seen[0]["frames_total"] == 12
    during = [s for s in seen if s["state"] == "running" and 0 < s["frames_done"] < 12]
    assert during, "progress was never visible while the job ran"
    assert all(isinstance(s["seconds_left"], (int, float)) and s["seconds_left"] >= 0 for s in during)
    assert [s["frames_done"] for s in during] == sorted(s["frames_done"] for s in during)
    final = seen[-1]
    assert final["state"] == "done", final
    assert final["frames_done"] == final["frames_total"] == 12 and final["result"] == f"/videos/{job_id}/result"
    assert 12 * FRAME_DELAY <= final["seconds"] <= time.time() - posted  # the run's own time: 12 paused frames
    with client.get(final["result"]) as download:
        assert download.status_code == 200 and download.mimetype == "video/mp4"
        assert download.headers["Content-Disposition"] == 'inline; filename="old_film-color.mp4"'
        assert frames_of(download.data) == (12, (64, 48))
    # the upload is gone once the job ended; the result stays until it expires
    assert [p.name for p in (backend.queue_folder(0) / job_id).iterdir()] == ["result.mp4"]


def test_delete_cancels_a_running_job_and_removes_its_files(backend, make_app):
    app = make_app(backend.queue(0))
    client = app.test_client()
    job_id = submit(client, LONG)
    running_with_progress(client, job_id)
    folder = backend.queue_folder(0) / job_id
    assert folder.is_dir()
    assert client.delete(f"/videos/{job_id}").status_code == 204
    assert not folder.exists()
    cancelled = state(client, job_id)
    assert cancelled["state"] == "cancelled" and "result" not in cancelled
    assert client.get(f"/videos/{job_id}/result").status_code == 409
    # the worker stops working on it (its progress callback raised), and leaves nothing behind
    marker = backend.root / "markers" / f"{job_id}.stopped"
    wait_for(marker.exists, 60, "the worker to stop the cancelled job")
    time.sleep(0.5)
    assert not folder.exists() and state(client, job_id)["state"] == "cancelled"
    assert client.delete(f"/videos/{job_id}").status_code == 204  # a second DELETE removes the record too
    assert client.get(f"/videos/{job_id}").status_code == 404


def test_a_cancelled_queued_job_never_runs(backend, make_app):
    settings = backend.queue(1)  # a queue no worker reads
    app = make_app(settings, JOB_THREADS=0)
    client = app.test_client()
    job_id = submit(client, QUICK)
    assert state(client, job_id)["state"] == "queued"
    assert client.delete(f"/videos/{job_id}").status_code == 204
    assert state(client, job_id)["state"] == "cancelled"
    jobs = app.extensions["jobs"]
    jobs.start(1)  # a worker now takes the message, and drops it
    wait_for(lambda: jobs.huey.pending_count() == 0, 30, "the worker to take the message")
    time.sleep(0.5)
    assert state(client, job_id)["state"] == "cancelled" and not (Path(settings["JOB_FOLDER"]) / job_id).exists()


def test_a_storage_outage_while_a_job_reports_progress_does_not_fail_it(backend, make_app):
    app = make_app(backend.queue(8), JOB_THREADS=0)
    jobs, client = app.extensions["jobs"], app.test_client()
    real_mine, calls = jobs.apply, []

    def unreachable_at_first(*args):
        calls.append(args)
        if len(calls) <= 2:
            raise (redis.ConnectionError if backend.kind == "redis" else sqlite3.OperationalError)("down")
        return real_mine(*args)

    jobs.apply = unreachable_at_first
    job_id = submit(client, 12)
    jobs.start(1)
    assert wait_state(client, job_id, ("done", "failed"))["state"] == "done"
    assert len(calls) > 2


def test_a_full_queue_answers_503_with_retry_after_and_keeps_nothing(backend, make_app):
    settings = backend.queue(2)
    client = make_app(settings, JOB_THREADS=0, MAX_QUEUED=2).test_client()
    first, second = submit(client, QUICK), submit(client, QUICK)
    response = post_video(client, synthetic_video(QUICK))
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    assert "queue is full" in response.json["error"]
    folders = sorted(p.name for p in Path(settings["JOB_FOLDER"]).iterdir() if p.is_dir())
    assert folders == sorted([first, second])
    assert client.delete(f"/videos/{first}").status_code == 204  # room again
    assert post_video(client, synthetic_video(QUICK)).status_code == 202


@pytest.mark.slow  # waits out a lease or a TTL
def test_expired_jobs_and_their_files_are_removed(backend, make_app):
    settings = backend.queue(0)
    client = make_app(settings).test_client()
    swept, read = submit(client, QUICK), submit(client, QUICK)
    for job_id in (swept, read):
        assert wait_state(client, job_id, ("done", "failed"))["state"] == "done"
        assert state(client, job_id)["expires_in"] > 100  # the default TTL is an hour
    short = make_app(settings, JOB_TTL=1, JOB_THREADS=0)  # the same queue, read with a one-second TTL
    time.sleep(1.5)
    short.extensions["jobs"].sweep()  # what each process's sweeper does every few seconds
    assert not (Path(settings["JOB_FOLDER"]) / swept).exists()
    assert client.get(f"/videos/{swept}").status_code == 404
    # and one read after its time is answered 404 and removed then, sweeper or not
    read_folder = Path(settings["JOB_FOLDER"]) / read
    if read_folder.exists():
        with short.test_client().get(f"/videos/{read}/result") as response:
            assert response.status_code == 404
        assert not read_folder.exists()
    assert client.get(f"/videos/{read}").status_code == 404


# --- losing no job -------------------------------------------------------------------------------------------

@pytest.mark.slow  # waits out a lease or a TTL
def test_a_job_whose_worker_vanished_mid_job_is_run_again(backend, make_app):
    app = make_app(backend.queue(3), JOB_THREADS=0)
    jobs, client = app.extensions["jobs"], app.test_client()
    job_id = submit(client, QUICK)
    # a worker took it and died after claiming it: the message is gone, the record says running, nothing beats
    message = jobs.huey.dequeue()
    assert message.args[0] == job_id
    jobs.store.update(job_id, lambda j: replace(j, state=State.RUNNING, runner="dead", attempts=1, beat=1))
    jobs.start(1)
    final = wait_state(client, job_id, ("done", "failed"), timeout=60)
    assert final["state"] == "done"
    assert jobs.store.get(job_id).attempts == 2


@pytest.mark.slow  # waits out a lease or a TTL
def test_a_job_whose_worker_died_as_it_took_the_message_is_run_again(backend, make_app):
    app = make_app(backend.queue(4), JOB_THREADS=0)
    jobs, client = app.extensions["jobs"], app.test_client()
    job_id = submit(client, QUICK)
    assert jobs.huey.dequeue().args[0] == job_id  # taken and lost before the record was claimed
    jobs.start(1)
    assert wait_state(client, job_id, ("done", "failed"), timeout=60)["state"] == "done"
    assert jobs.store.get(job_id).attempts == 1


@pytest.mark.slow  # waits out a lease or a TTL
def test_a_job_whose_workers_keep_dying_is_reported_failed(backend, make_app):
    settings = backend.queue(5)
    app = make_app(settings, JOB_THREADS=0, JOB_ATTEMPTS=1)
    jobs, client = app.extensions["jobs"], app.test_client()
    job_id = submit(client, QUICK)
    jobs.huey.dequeue()
    jobs.store.update(job_id, lambda j: replace(j, state=State.RUNNING, runner="dead", attempts=1, beat=1))
    jobs.start(1)
    final = wait_state(client, job_id, ("done", "failed"), timeout=60)
    assert final["state"] == "failed" and "stopped answering before the end" in final["error"]
    assert "memory" not in final["error"] and "without handing it back (it was killed" in final["error"]
    # the upload goes with it: the monitor marks the job failed, then removes its folder, so a poll can see the state
    # a moment before the folder is gone
    wait_for(lambda: not (Path(settings["JOB_FOLDER"]) / job_id).exists(), 5, "the failed job's upload to go")


@pytest.mark.slow  # waits out a lease or a TTL
def test_a_stopping_worker_hands_its_running_job_back(backend, make_app):
    settings = backend.queue(6)
    app = make_app(settings, JOB_THREADS=1)
    client = app.test_client()
    job_id = submit(client, LONG)
    running_with_progress(client, job_id)
    app.extensions["jobs"].close(hand_back=True)  # what SIGTERM does to `python -m app.worker`
    record = app.extensions["jobs"].store.get(job_id)
    assert record.state == "queued" and record.attempts == 0
    other = make_app(settings, JOB_THREADS=1)
    assert wait_state(other.test_client(), job_id, ("done", "failed"))["state"] == "done"
    assert other.extensions["jobs"].store.get(job_id).attempts == 1


@pytest.mark.slow
def test_a_worker_killed_with_sigkill_mid_job_loses_no_job(backend, make_app, tiny_weights):
    """Two real worker processes; the one running the job is killed outright: the other runs it again."""
    settings = backend.queue(7)
    app = make_app(settings, JOB_THREADS=0)
    client, store = app.test_client(), app.extensions["jobs"].store
    with worker_processes(2, settings, tiny_weights, backend.root / "kill-logs") as workers:
        job_id = submit(client, LONG)
        running_with_progress(client, job_id)
        victim_pid = int(store.get(job_id).worker.rsplit(":", 1)[1])
        (victim,) = [worker for worker in workers if worker.pid == victim_pid]
        os.kill(victim_pid, signal.SIGKILL)
        victim.wait(30)
        final = wait_state(client, job_id, ("done", "failed"), timeout=180)
        assert final["state"] == "done", final
        record = store.get(job_id)
        assert record.attempts == 2
        (survivor,) = [worker for worker in workers if worker is not victim]
        assert int(record.worker.rsplit(":", 1)[1]) == survivor.pid
        with client.get(final["result"]) as download:
            assert frames_of(download.data)[0] == LONG


@pytest.mark.slow
def test_a_worker_stopped_with_sigterm_hands_its_job_to_the_other(backend, make_app, tiny_weights):
    settings = backend.queue(9)
    app = make_app(settings, JOB_THREADS=0)
    client, store = app.test_client(), app.extensions["jobs"].store
    with worker_processes(2, settings, tiny_weights, backend.root / "term-logs") as workers:
        job_id = submit(client, LONG)
        running_with_progress(client, job_id)
        stopped_pid = int(store.get(job_id).worker.rsplit(":", 1)[1])
        (stopped,) = [worker for worker in workers if worker.pid == stopped_pid]
        stopped.send_signal(signal.SIGTERM)
        assert stopped.wait(60) == 0
        final = wait_state(client, job_id, ("done", "failed"), timeout=180)
        assert final["state"] == "done", final
        record = store.get(job_id)
        assert record.attempts == 1  # handed back: the stop is not counted as a failed start
        assert int(record.worker.rsplit(":", 1)[1]) != stopped_pid


# --- the storage failing, restarts and budgets ---------------------------------------------------------------

def unreachable(backend) -> type:
    return redis.ConnectionError if backend.kind == "redis" else sqlite3.OperationalError


def test_a_worker_outlives_the_storage_failing_as_a_job_ends(backend, make_app, monkeypatch):
    """huey's bookkeeping after the task (it deletes the task's revoke flag) and the job's own end record both meet
    a storage that cannot be reached: the job ends done, run once, and the same worker thread runs the next one."""
    monkeypatch.setattr("app.jobs.RETRY_SECONDS", 0.2)
    app = make_app(backend.queue(10), JOB_THREADS=0)
    jobs, client = app.extensions["jobs"], app.test_client()
    failures = {"bookkeeping": 1, "end": 1}
    real_delete, real_end, real_mine = jobs.huey.delete, jobs.end, jobs.apply
    ending = threading.local()

    def delete(key):
        if failures["bookkeeping"]:
            failures["bookkeeping"] -= 1
            raise unreachable(backend)("the storage is down")
        return real_delete(key)

    def end(*args):
        ending.now = True
        try:
            return real_end(*args)
        finally:
            ending.now = False

    def mine(*args):
        if getattr(ending, "now", False) and failures["end"]:
            failures["end"] -= 1
            raise unreachable(backend)("the storage is down")
        return real_mine(*args)

    jobs.huey.delete, jobs.end, jobs.apply = delete, end, mine
    first = submit(client, QUICK)
    jobs.start(1)
    assert wait_state(client, first, ("done", "failed"))["state"] == "done"
    # huey's bookkeeping runs after the task has written its end: on a busy machine, a moment after "done" shows
    wait_for(lambda: failures == {"bookkeeping": 0, "end": 0}, 30, "both storage failures to be met")
    second = submit(client, QUICK)  # the worker thread is still there to run it
    assert wait_state(client, second, ("done", "failed"), timeout=60)["state"] == "done"
    assert jobs.store.get(first).attempts == 1 and jobs.huey.pending_count() == 0
    assert [t.name for t in jobs._threads if t.is_alive()].count("video-worker-1") == 1


def test_a_job_handed_back_too_often_is_failed_saying_why(backend, make_app, monkeypatch):
    """A web process that runs jobs and is replaced (gunicorn's max_requests) hands its film back, which then starts
    again from its first frame: counted, so that a long film is not started again for ever."""
    monkeypatch.setattr("app.jobs.MAX_HAND_BACKS", 2)
    settings = backend.queue(11)
    client = make_app(settings, JOB_THREADS=0).test_client()
    job_id = submit(client, LONG)
    for handed_back in (1, 2):
        jobs = make_app(settings, JOB_THREADS=1).extensions["jobs"]
        wait_for(lambda: jobs._running, 60, "the job to start")
        jobs.close(hand_back=True)  # what gunicorn recycling the process does
        assert jobs.store.get(job_id).hand_backs == handed_back
    final = state(client, job_id)
    assert final["state"] == "failed", final
    assert "stopped 2 times" in final["error"] and "the process colorizing it was stopping" in final["error"]
    assert "memory" not in final["error"]
    assert not (Path(settings["JOB_FOLDER"]) / job_id).exists()


def test_a_job_past_the_time_limit_is_stopped_and_failed(backend, make_app):
    settings = backend.queue(12)
    client = make_app(settings, JOB_THREADS=1, JOB_TIMEOUT=1).test_client()
    frames = 5 * LONG  # far more than a second of work, even with decoding and encoding beside the colour
    job_id = submit(client, frames)
    final = wait_state(client, job_id, ("done", "failed"), timeout=60)
    assert final["state"] == "failed" and final["error"].startswith("The video was stopped after 0:01 of work")
    assert f"of {frames} frames colorized" in final["error"]
    assert not (Path(settings["JOB_FOLDER"]) / job_id).exists()


def test_a_storage_outage_is_not_taken_for_a_silent_worker(make_app, tmp_path):
    app = make_app({"JOB_FOLDER": str(tmp_path / "jobs"), "JOB_LEASE": 1, "VIDEO_FUNCTION": SLOW}, JOB_THREADS=0)
    jobs = app.extensions["jobs"]
    jobs.close(hand_back=False)  # this test sweeps by hand
    job_id = submit(app.test_client(), QUICK)
    jobs.store.update(job_id, lambda j: replace(j, state=State.RUNNING, runner="alive", attempts=1, beat=1))
    jobs.sweep_once()  # seen running at beat 1
    real_all = jobs.store.all
    jobs.store.all = lambda: (_ for _ in ()).throw(sqlite3.OperationalError("disk I/O error"))
    time.sleep(1.3)  # longer than the lease, with the storage out of reach: no beat could arrive
    jobs.sweep_once()
    jobs.store.all = real_all
    jobs.sweep_once()  # the storage is back, the worker has had no time to beat yet
    assert jobs.store.get(job_id).state == "running"
    time.sleep(1.3)
    jobs.sweep_once()  # now it has been silent for a whole lease, seen: queued again
    assert jobs.store.get(job_id).state == "queued"


def test_the_record_names_the_process_that_runs_the_job_not_its_parent():
    """gunicorn imports the app in its master and forks the workers: the name is asked in the process itself."""
    from app.jobs import worker_name
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the forked child: its own pid, not the parent's
        os.write(writer, worker_name().encode())
        os._exit(0)
    os.close(writer)
    name = os.read(reader, 200).decode()
    os.close(reader)
    os.waitpid(child, 0)
    assert name == f"{socket.gethostname()}:{child}"


def test_queued_jobs_run_and_expired_ones_go_without_any_request(make_app, tmp_path):
    """After a restart the worker threads and the sweeper start with the app, not with the first call to /videos."""
    settings = {"JOB_FOLDER": str(tmp_path / "jobs"), "JOB_LEASE": 1, "VIDEO_FUNCTION": SLOW}
    before = make_app(settings, JOB_THREADS=0)
    client, store = before.test_client(), before.extensions["jobs"].store
    waiting, old = submit(client, QUICK), submit(client, QUICK)
    store.update(old, lambda j: replace(j, state=State.DONE, finished=time.time() - 7200))  # ended two hours ago
    before.extensions["jobs"].close(hand_back=False)
    make_app({**settings, "JOB_LEASE": 60})  # "restarted": nobody calls it; its sweeper runs at once, then every 20 s
    wait_for(lambda: store.get(old) is None, 5, "the expired job to be removed")
    wait_for(lambda: store.get(waiting).state == "done", 60, "the queued job to run")
    assert not (tmp_path / "jobs" / old).exists()


def test_the_worker_warns_when_redis_would_lose_jobs(redis_server, make_app, tmp_path, caplog):
    url = f"{redis_server}/13"
    settings = {"JOB_FOLDER": str(tmp_path / "jobs"), "REDIS_URL": url, "VIDEO_FUNCTION": SLOW}
    client = redis.Redis.from_url(url)
    assert client.config_get("appendonly")["appendonly"] == "no"  # the test server, as Debian's defaults
    with caplog.at_level("WARNING", logger="app.jobs"):
        make_app(settings, JOB_THREADS=1)
    assert any("appendonly no" in r.getMessage() and "lost" in r.getMessage() for r in caplog.records)
    caplog.clear()
    client.config_set("appendonly", "yes")
    try:
        with caplog.at_level("WARNING", logger="app.jobs"):
            make_app(settings, JOB_THREADS=1)
        assert not any("appendonly" in r.getMessage() for r in caplog.records)
    finally:
        client.config_set("appendonly", "no")
        client.close()
    # a Redis whose CONFIG command is disabled (managed services) cannot be asked: no warning, no failure
    jobs = make_app(settings, JOB_THREADS=0).extensions["jobs"]
    jobs.huey.storage.conn.config_get = lambda *_: (_ for _ in ()).throw(redis.ResponseError("unknown command"))
    assert jobs.durability_warning() is None


@pytest.mark.slow
def test_redis_stopping_as_a_job_ends_leaves_a_worker_that_goes_on(make_app, tiny_weights, tmp_path):
    """A real Redis (with its append-only file, so it keeps the jobs) stops while a real worker process colorizes;
    the film ends meanwhile and its end is recorded once Redis is back: done on its first start, and the same
    worker runs the next job."""
    port, data = free_port(), tmp_path / "redis"
    data.mkdir()
    command = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
               "--appendfsync", "always", "--dir", str(data)]
    probe = redis.Redis(port=port)
    servers = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        wait_for(lambda: answers(probe), 30, "redis-server to answer")
        settings = {"JOB_FOLDER": str(tmp_path / "jobs"), "JOB_LEASE": LEASE, "VIDEO_FUNCTION": SLOW,
                    "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        app = make_app(settings, JOB_THREADS=0)  # the web side: it queues, and sweeps
        client = app.test_client()
        with worker_processes(1, settings, tiny_weights, tmp_path / "logs"):
            job_id = submit(client, 20)  # about 3 s of frames
            wait_for(lambda: state(client, job_id)["frames_done"] >= 12, 120, "the job to be well under way")
            servers[0].terminate()
            servers[0].wait(30)
            time.sleep(4)  # the film's last frames and its end, with Redis gone
            servers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(lambda: answers(probe), 30, "redis-server to answer again")
            final = wait_state(client, job_id, ("done", "failed"), timeout=120)
            assert final["state"] == "done", final
            assert app.extensions["jobs"].store.get(job_id).attempts == 1
            following = submit(client, QUICK)
            assert wait_state(client, following, ("done", "failed"), timeout=60)["state"] == "done"
        app.extensions["jobs"].close(hand_back=False)
        app.extensions["jobs"].huey.storage.conn.connection_pool.disconnect()
    finally:
        probe.close()
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(30)


# --- typed states, workers that announce themselves, a lost message ------------------------------------------

def test_the_transitions_apply_only_from_the_states_they_name():
    from app.jobs import Job, beat, cancel, claim, fail, finish, hand_back, requeue
    queued = Job("a" * 32, "film", "upload.mp4", {}, 12, ticket="t1")
    assert claim(queued, "stale", "r1", "host:1", 0.5) is None  # a message whose ticket is not the record's
    running = claim(queued, "t1", "r1", "host:1", 0.5)
    assert (running.state, running.runner, running.attempts, running.beat) == (State.RUNNING, "r1", 1, 1)
    assert running.started == 0.5
    assert claim(running, "t1", "r2", "host:2", 0.6) is None  # run once at a time
    assert beat(running, "r2") is None and beat(running, "r1", frames_done=3).frames_done == 3
    assert finish(running, "r2", 12, 0.0) is None  # another runner's end
    done = finish(running, "r1", 12, 5.0)
    assert (done.state, done.frames_done, done.runner, done.finished) == (State.DONE, 12, None, 5.0)
    assert cancel(done, 6.0) is None and fail(done, "r1", "late", 6.0) is None  # an end is final
    assert cancel(queued, 1.0).state == cancel(running, 1.0).state == State.CANCELLED
    assert requeue(running, "t2", 2, 1.0).state == State.QUEUED and requeue(running, "t2", 2, 1.0).ticket == "t2"
    assert requeue(running, "t2", 1, 1.0).state == State.FAILED  # started as many times as allowed
    back = hand_back(running, "r1", "t3", 1.0)
    assert (back.state, back.attempts, back.hand_backs) == (State.QUEUED, 0, 1)  # a hand-back is not an attempt
    assert Job.from_json(done.to_json()) == done


def test_a_queued_job_with_no_live_worker_says_so_and_healthz_counts_workers(make_app, tmp_path):
    settings = {"JOB_FOLDER": str(tmp_path / "jobs"), "JOB_LEASE": LEASE, "VIDEO_FUNCTION": SLOW}
    app = make_app(settings, JOB_THREADS=0)  # a web process that runs no jobs, and no worker anywhere
    client = app.test_client()
    assert client.get("/healthz").json["video_workers"] == 0
    job_id = submit(client, QUICK)
    waiting = state(client, job_id)
    assert waiting["state"] == "queued" and waiting["workers"] == 0
    assert "No video worker is running" in waiting["waiting_for"]
    worker = make_app(settings, JOB_THREADS=1)  # a worker starts (another process, as far as the queue knows)
    assert client.get("/healthz").json["video_workers"] == 1
    assert wait_state(client, job_id, ("done", "failed"))["state"] == "done"
    other = submit(client, LONG)
    wait_for(lambda: state(client, other)["state"] == "running", 60, "the worker to take the next job")
    worker.extensions["jobs"].close(hand_back=True)  # it stops: its job goes back, and it is no longer counted
    assert client.get("/healthz").json["video_workers"] == 0
    assert "No video worker is running" in state(client, other)["waiting_for"]


def test_a_message_lost_as_a_worker_took_it_is_queued_again_after_the_lease(make_app, tmp_path):
    """A worker killed between taking the message and claiming the job: the record says queued, the queue holds
    nothing. The sweepers see the ticket missing for a whole lease and queue the job again under a new one."""
    app = make_app({"JOB_FOLDER": str(tmp_path / "jobs"), "JOB_LEASE": 1, "VIDEO_FUNCTION": SLOW}, JOB_THREADS=0)
    jobs = app.extensions["jobs"]
    jobs.close(hand_back=False)  # this test sweeps by hand
    job_id = submit(app.test_client(), QUICK)
    lost = jobs.huey.dequeue()  # taken, and its worker gone
    assert lost.args == (job_id, jobs.store.get(job_id).ticket) and jobs.huey.pending_count() == 0
    jobs.sweep_once()  # seen missing
    assert jobs.huey.pending_count() == 0
    time.sleep(1.3)
    jobs.sweep_once()  # missing for longer than the lease: queued again
    job = jobs.store.get(job_id)
    (message,) = jobs.huey.pending()
    assert job.state == "queued" and job.ticket != lost.args[1] and message.args == (job_id, job.ticket)
    jobs.start(1)
    assert wait_state(app.test_client(), job_id, ("done", "failed"), timeout=60)["state"] == "done"
    assert jobs.store.get(job_id).attempts == 1


def test_a_job_queued_by_the_server_before_checked_requests_fails_saying_so(make_app, tmp_path):
    """A record written before jobs held their checked request (hints and vividness instead): it is read, and its
    job fails with a message, rather than the sweeper or GET /videos/ID failing on it."""
    import json
    app = make_app({"JOB_FOLDER": str(tmp_path / "jobs"), "VIDEO_FUNCTION": SLOW}, JOB_THREADS=0)
    jobs, client = app.extensions["jobs"], app.test_client()
    job_id = submit(client, QUICK)
    with jobs.store.connect() as db:
        record = json.loads(db.execute("select record from colorizer_job where id = ?", (job_id,)).fetchone()[0])
        del record["request"]
        record.update(hints=[], vividness=1.0)
        db.execute("update colorizer_job set record = ? where id = ?", (json.dumps(record), job_id))
    assert state(client, job_id)["state"] == "queued"
    jobs.start(1)
    final = wait_state(client, job_id, ("done", "failed"), timeout=60)
    assert final["state"] == "failed" and "earlier version of this server" in final["error"]


def test_a_worker_can_work_in_the_thread_that_starts_it_until_closed(make_app, tmp_path):
    """Jobs.start(here=True), as `python -m app.worker` runs it: the job runs in the calling thread (a process's
    main thread runs TorchScript markedly faster than its others), and start returns once close() stopped it."""
    app = make_app({"JOB_FOLDER": str(tmp_path / "jobs"), "VIDEO_FUNCTION": SLOW}, JOB_THREADS=0)
    jobs, client = app.extensions["jobs"], app.test_client()
    job_id = submit(client, QUICK)
    before = set(threading.enumerate())  # other tests' apps may leave worker threads of their own
    real, ran_in = jobs.work_function, []
    jobs.work_function = lambda *args: ran_in.append(threading.current_thread()) or real(*args)

    def close_when_done():
        wait_state(client, job_id, ("done", "failed"), timeout=60)
        jobs.close(hand_back=True)

    closer = threading.Thread(target=close_when_done)
    closer.start()
    jobs.start(1, here=True)  # returns only after the closer's close()
    closer.join()
    assert ran_in == [threading.current_thread()] and state(client, job_id)["state"] == "done"
    assert not [thread for thread in set(threading.enumerate()) - before if thread.name.startswith("video-worker")]
