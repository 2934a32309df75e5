"""Video jobs: long work queued, run by workers, watched by the web process.

    jobs = Jobs(JobSettings.from_config(app.config), work)   # work(source, result, request, progress) -> frames
    jobs.init_app(app, start=True)                 # app.extensions["jobs"]; its threads start with the app
    job_id, folder = jobs.create()                 # a new job's own folder: the upload goes there
    jobs.submit(job_id, name, source, request, frames)   # request: plain JSON, handed to `work` as it is
    jobs.get(job_id)                               # its record (Job): state, frames done / total, seconds left
    jobs.result_path(job_id)                       # where the finished MP4 is
    jobs.cancel(job_id)                            # stops it, removes its files
    jobs.start(threads)                            # run jobs in this process (a worker, or the web's own threads)
    jobs.live_workers()                            # processes running jobs that announced themselves lately

A job's life, each change a named transition below (`claim`, `beat`, `finish`, `fail`, `cancel`, `requeue`,
`hand_back`), applied atomically to its record:

    queued   --claim-->  running  --finish-->  done
    running  --fail-->   failed                     (the work failed, timed out, or was handed back too often)
    running  --requeue / hand_back-->  queued       (its lease lost: the worker went silent; or it was stopping)
    queued or running --cancel--> cancelled

Why huey, and the design around it. The queue must need no server by default, and run on Redis with workers on
other machines after changing one setting. huey 3.5 has both behind one API: `SqliteHuey` (a SQLite file in the
job folder, shared by every process on the machine) and `RedisHuey`. RQ, Celery and dramatiq need a broker even
for one machine. So the queue is huey's, and the rest is written once on top of it:

- Records. Each job is a `Job` (a dataclass, stored as JSON) in the queue's own storage (a table in the same
  SQLite file, or a Redis key), changed only by the transitions through `Store.update`, an atomic compare-and-set
  (SQLite's `begin immediate`, Redis's WATCH/MULTI), so the web process (cancel), the worker running the job
  (progress) and any other process (recovery) never overwrite each other. Every process, on any machine, sees the
  same progress.
- Losing no job. huey removes a message from the queue when a worker takes it; a worker killed (SIGKILL, the OOM
  killer, a lost machine) would lose the job with it. So the worker running a job beats: it bumps the record's
  `beat` at least every `lease / 4` seconds (and with the progress, at most once a second). Every process with a
  sweeper (each worker, and the web process) watches the beats with its own clock, so machines' clocks need not
  agree: a running job whose beat has not moved for `lease` seconds is queued again under a new ticket, or marked
  failed once it has been started `attempts` times. A queued job whose ticket is not in the queue for `lease`
  seconds (a worker killed between taking the message and starting the job) is queued again the same way. A
  message whose ticket is no longer the record's is dropped, so a job never runs twice at once for long.
- Stopping. A worker asked to stop (SIGTERM, Ctrl-C, gunicorn recycling a web process that runs jobs) hands its
  running jobs back to the queue at once, without counting an attempt; the job starts again from its first frame.
  Hand-backs are counted on their own: a job handed back `MAX_HAND_BACKS` times is failed, saying so, rather than
  started from the beginning for ever.
- A work budget. Each film's frames and frame size are checked before it is queued (app/videos.py) and again as
  it is decoded (the work the app hands the queue passes model.film's limits), and a job that runs longer than
  `timeout` seconds is stopped and failed.
- The storage failing. A worker thread outlives any error of the queue's storage (it logs, waits and goes on), and
  a finished job's end is written again until the storage answers, so the job is not run a second time.
- Files. A job's folder holds its upload and its result; the upload is removed when the job ends, the folder when
  the job is cancelled or expires (`ttl` seconds after it ended), and folders without a record after a day. Workers
  and the web process must see the same folder (one machine, or shared storage such as NFS): results are files,
  too large to pass through Redis.
- Workers announce themselves: each process running worker threads writes a heartbeat (a row of the same SQLite
  file, or a Redis key that expires) every few seconds, and removes it when it stops. A job queued while no worker
  is alive says so (GET /videos/ID), and /healthz counts them.
- The work is a plain callable handed to Jobs: work(source, result, request, progress) -> frames written, or
  (frames written, details): details, plain JSON, are kept in the finished job's record as they are. The
  queue knows nothing of colour: the request is the JSON the web side checked, passed on as it is. `progress(done,
  total)` records progress and raises `JobCancelled` to stop; the work raises `WorkFailed(message)` for a film it
  cannot colorize (the message is the person's), anything else is an error on our side.
"""
import atexit
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Callable

from huey import RedisHuey, SqliteHuey
from redis.exceptions import RedisError, WatchError

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"[0-9a-f]{32}")
RESULT = "result.mp4"
QUEUE_FILE = "queue.sqlite3"
PROGRESS_SECONDS = 1.0  # progress is written at most this often per job: a long film costs no more per frame
ORPHAN_SECONDS = 24 * 3600  # a folder with no record (a process died between making it and queuing the job)
IDLE_POLL_SECONDS = 0.25  # how often an idle worker looks at the SQLite queue (Redis wakes it at once)
BACKEND_ERRORS = (sqlite3.Error, RedisError)  # the queue's storage cannot be reached: 503, not 500
RETRY_SECONDS = 5.0  # how long a worker waits before it tries its storage again
MAX_HAND_BACKS = 5  # hand-backs (the process running it was stopping) before a job is failed instead
WORKER_BEAT_SECONDS = 5.0  # how often a process with worker threads announces itself (at most; lease / 4 if less)


def worker_name() -> str:
    """host:pid of the process running this code: asked each time, since gunicorn imports the app in its master
    and forks its workers from it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobCancelled(Exception):
    """Raised by the progress callback: the job was cancelled, or given to another worker."""


class JobTimedOut(Exception):
    """Raised by the progress callback: the job ran past the settings' `timeout`."""


class QueueFull(Exception):
    """A job that found the queue full as it was queued (another process queued one meanwhile); for a person."""


class WorkFailed(Exception):
    """Raised by the work for a film it cannot colorize: the message is the person's, the job fails with it."""


Work = Callable[[Path, Path, dict, Callable[[int, int], None]], "int | tuple[int, dict]"]  # (source, result, request,
# progress) -> frames, or (frames, details)


class State(str, Enum):
    QUEUED = "queued"  # waiting for a worker (again, after a lost lease or a hand-back)
    RUNNING = "running"  # a worker's runner holds it and beats
    DONE = "done"  # the result is in its folder until it expires
    FAILED = "failed"  # error says why
    CANCELLED = "cancelled"  # DELETE stopped it; kept, without files, until it expires


ACTIVE = (State.QUEUED, State.RUNNING)


@dataclass(frozen=True)
class Job:
    """A video job's record. Changed only by the transitions below, through Store.update (compare-and-set)."""
    id: str
    name: str  # the upload's file name without its extension: the result is named after it
    source: str  # the upload's file name in the job's folder
    request: dict  # what to do, as the web side checked it (model.request.FilmRequest.to_json); the work's
    frames_total: int  # frames to colorize (the film's index; corrected as the work counts them)
    state: State = State.QUEUED
    ticket: str = ""  # the queue message this record waits for: a message with another ticket is stale
    attempts: int = 0  # starts (claims), less the hand-backs: a job whose workers keep dying fails after `attempts`
    hand_backs: int = 0  # times a stopping process gave it back; MAX_HAND_BACKS fail it
    runner: str | None = None  # the token of the run that holds it, while running
    worker: str | None = None  # host:pid of the process that ran it last
    beat: int = 0  # bumped by its runner while running: the sweepers time its silence
    frames_done: int = 0
    seconds_left: float | None = None  # estimated while running
    error: str | None = None  # why it failed, for a person
    created: float = 0.0  # time.time() when it was queued
    started: float | None = None  # time.time() when its latest run began (claimed)
    finished: float | None = None  # time.time() when it ended (done, failed, cancelled): it expires ttl later
    details: dict = field(default_factory=dict)  # what the work said of its result (plain JSON), once done

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "state": self.state.value})

    @classmethod
    def from_json(cls, text: str | bytes) -> "Job":
        data = json.loads(text)
        data.setdefault("request", {})  # a record of a server before requests were queued checked: the work says so
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in known}, "state": State(data["state"])})

    def expired(self, now: float, ttl: float) -> bool:
        return self.finished is not None and now >= self.finished + ttl


# The transitions: each takes the record as it is now and returns it changed, or None when the change no longer
# applies (another process changed the job first); Store.update applies it atomically.

def claim(job: Job, ticket: str, runner: str, worker: str, now: float) -> Job | None:
    """queued -> running, for the message with the record's ticket."""
    if job.state != State.QUEUED or job.ticket != ticket:
        return None
    return replace(job, state=State.RUNNING, runner=runner, worker=worker, attempts=job.attempts + 1,
                   beat=job.beat + 1, frames_done=0, seconds_left=None, started=now)


def beat(job: Job, runner: str, **progress) -> Job | None:
    """A running job's runner is alive (and, with progress, how far it got: frames_done, frames_total,
    seconds_left)."""
    if job.state != State.RUNNING or job.runner != runner:
        return None
    return replace(job, beat=job.beat + 1, **progress)


def finish(job: Job, runner: str, frames: int, now: float, details: dict | None = None) -> Job | None:
    """running -> done (with what the work said of its result)."""
    if job.state != State.RUNNING or job.runner != runner:
        return None
    return replace(job, state=State.DONE, frames_done=frames, frames_total=frames, finished=now, seconds_left=None,
                   runner=None, details=dict(details or {}))


def fail(job: Job, runner: str | None, error: str, now: float) -> Job | None:
    """running (held by this runner; None: by whoever it was) -> failed, saying why."""
    if job.state != State.RUNNING or runner is not None and job.runner != runner:
        return None
    return replace(job, state=State.FAILED, error=error, finished=now, seconds_left=None, runner=None)


def cancel(job: Job, now: float) -> Job | None:
    """queued or running -> cancelled."""
    if job.state not in ACTIVE:
        return None
    return replace(job, state=State.CANCELLED, finished=now, seconds_left=None, runner=None)


def requeue(job: Job, ticket: str, attempts: int, now: float) -> Job | None:
    """The lease lost (its worker went silent, or died as it took the message): queued again under a new ticket,
    or failed once it was started `attempts` times."""
    if job.state not in ACTIVE:
        return None
    if job.attempts < attempts:
        return replace(job, state=State.QUEUED, ticket=ticket, runner=None, seconds_left=None)
    times = f"{job.attempts} time{'s' if job.attempts != 1 else ''}"
    return replace(job, state=State.FAILED, runner=None, seconds_left=None, finished=now,
                   error=f"The video was started {times} and each time the process colorizing it stopped answering "
                         f"before the end, without handing it back (it was killed, crashed, or its machine was "
                         f"lost); it was not started again.")


def hand_back(job: Job, runner: str, ticket: str, now: float) -> Job | None:
    """running -> queued, from a process that is stopping, not counting the attempt; failed after MAX_HAND_BACKS
    (it would start from its first frame again for ever)."""
    if job.state != State.RUNNING or job.runner != runner:
        return None
    hand_backs = job.hand_backs + 1
    if hand_backs >= MAX_HAND_BACKS:
        return replace(fail(job, runner, f"The video was stopped {hand_backs} times before it was finished, each "
                                         f"time because the process colorizing it was stopping (a restart, or a "
                                         f"web worker being replaced), and each time it started again from its "
                                         f"first frame; it was not started again.", now), hand_backs=hand_backs)
    return replace(job, state=State.QUEUED, ticket=ticket, runner=None, hand_backs=hand_backs,
                   attempts=max(0, job.attempts - 1))


def default_folder() -> Path:
    """A folder of the machine's temp dir, the same for every process of this user (gunicorn's workers)."""
    return Path(tempfile.gettempdir()) / f"colorizer-jobs-{os.getuid()}"


@dataclass(frozen=True)
class JobSettings:
    folder: Path  # uploads, results, and the SQLite queue when there is no Redis
    redis_url: str = ""  # "" for the embedded SQLite queue; redis://host:port/db for Redis
    threads: int = 1  # worker threads in this process
    ttl: float = 3600.0  # seconds a job is kept after it ended
    lease: float = 60.0  # seconds without a beat after which a running job is started again
    attempts: int = 2  # starts before a job whose worker keeps dying is reported failed
    max_queued: int = 20  # queued jobs before POST /videos answers 503
    min_free_bytes: int = 0  # free disk in the folder below which POST /videos answers 503
    timeout: float = 6 * 3600.0  # seconds a job may run before it is stopped and failed

    @classmethod
    def from_config(cls, config) -> "JobSettings":
        folder = Path(config["JOB_FOLDER"]) if config["JOB_FOLDER"] else default_folder()
        threads = config["JOB_THREADS"]
        if threads == "auto":  # the web process runs jobs itself only with the embedded queue
            threads = 0 if config["REDIS_URL"] else 1
        return cls(folder=folder, redis_url=config["REDIS_URL"], threads=threads, ttl=config["JOB_TTL"],
                   lease=config["JOB_LEASE"], attempts=config["JOB_ATTEMPTS"], max_queued=config["MAX_QUEUED"],
                   min_free_bytes=2 * config["MAX_VIDEO_BYTES"], timeout=config["JOB_TIMEOUT"])


def prepare_folder(folder: Path, default: bool) -> None:
    """Makes the job folder (private to this user); the default one, in a shared temp dir, must be ours."""
    folder.mkdir(mode=0o700, parents=not default, exist_ok=True)
    if default:
        status = folder.lstat()
        if folder.is_symlink() or not folder.is_dir() or status.st_uid != os.getuid() or status.st_mode & 0o077:
            raise ValueError(f"{folder} is not a private folder of this user; set COLORIZER_JOB_FOLDER")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{folder} is not writable")


# ---------------------------------------------------------------------------------------------------------------
# Records: one store for each kind of queue storage, the same operations: the jobs' records, and the workers'
# heartbeats.

class SqliteStore:
    """Job records in a table of the queue's own SQLite file. A connection per call: cheap, and fork- and
    thread-safe; WAL mode (set by huey on the file) lets readers run beside the one writer."""

    def __init__(self, path: Path):
        self.path = str(path)
        with self.connect() as db:
            db.execute("create table if not exists colorizer_job (id text primary key, record text not null)")
            db.execute("create table if not exists colorizer_worker (name text primary key, until real not null)")

    @contextlib.contextmanager
    def connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # autocommit, but for `begin`
        try:
            yield db
        finally:
            db.close()

    def add(self, job: Job) -> None:
        with self.connect() as db:
            db.execute("insert into colorizer_job (id, record) values (?, ?)", (job.id, job.to_json()))

    def get(self, job_id: str) -> Job | None:
        with self.connect() as db:
            row = db.execute("select record from colorizer_job where id = ?", (job_id,)).fetchone()
        return Job.from_json(row[0]) if row else None

    def all(self) -> list[Job]:
        with self.connect() as db:
            return [Job.from_json(row[0]) for row in db.execute("select record from colorizer_job")]

    def update(self, job_id: str, change: Callable[[Job], Job | None]) -> tuple[Job | None, bool]:
        """change(job) -> the job changed (a transition), or None to leave it; atomic. Returns (job as it is now,
        changed); None when there is no such job."""
        with self.connect() as db:
            db.execute("begin immediate")  # the write lock first: no other process changes it between
            try:
                row = db.execute("select record from colorizer_job where id = ?", (job_id,)).fetchone()
                job = Job.from_json(row[0]) if row else None
                changed = change(job) if job is not None else None
                if changed is not None:
                    db.execute("update colorizer_job set record = ? where id = ?", (changed.to_json(), job_id))
            except BaseException:
                db.execute("rollback")
                raise
            db.execute("commit")
            return (job, False) if changed is None else (changed, True)

    def delete(self, job_id: str) -> None:
        with self.connect() as db:
            db.execute("delete from colorizer_job where id = ?", (job_id,))

    def announce(self, worker: str, seconds: float) -> None:
        """This worker is alive for the next `seconds` (one machine: its clock is every process's)."""
        now = time.time()
        with self.connect() as db:
            db.execute("delete from colorizer_worker where until < ?", (now,))  # the dead ones' rows (killed)
            db.execute("insert or replace into colorizer_worker (name, until) values (?, ?)", (worker, now + seconds))

    def withdraw(self, worker: str) -> None:
        with self.connect() as db:
            db.execute("delete from colorizer_worker where name = ?", (worker,))

    def live_workers(self) -> int:
        with self.connect() as db:
            return db.execute("select count(*) from colorizer_worker where until >= ?", (time.time(),)).fetchone()[0]


class RedisStore:
    """Job records as Redis strings (JSON) beside huey's keys, and a set of their ids."""

    def __init__(self, redis, name: str):
        self.redis = redis
        self.prefix = f"{name}.job."
        self.ids = f"{name}.jobs"
        self.workers = f"{name}.worker."

    def add(self, job: Job) -> None:
        with self.redis.pipeline() as pipe:
            pipe.set(self.prefix + job.id, job.to_json())
            pipe.sadd(self.ids, job.id)
            pipe.execute()

    def get(self, job_id: str) -> Job | None:
        raw = self.redis.get(self.prefix + job_id)
        return Job.from_json(raw) if raw is not None else None

    def all(self) -> list[Job]:
        ids = sorted(member.decode() for member in self.redis.smembers(self.ids))
        if not ids:
            return []
        values = self.redis.mget([self.prefix + job_id for job_id in ids])
        gone = [job_id for job_id, raw in zip(ids, values) if raw is None]
        if gone:
            self.redis.srem(self.ids, *gone)
        return [Job.from_json(raw) for raw in values if raw is not None]

    def update(self, job_id: str, change: Callable[[Job], Job | None]) -> tuple[Job | None, bool]:
        key = self.prefix + job_id
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    job = Job.from_json(raw) if raw is not None else None
                    changed = change(job) if job is not None else None
                    if changed is None:
                        pipe.unwatch()
                        return job, False
                    pipe.multi()
                    pipe.set(key, changed.to_json())
                    pipe.execute()
                    return changed, True
                except WatchError:  # another process changed it meanwhile: read it again
                    continue

    def delete(self, job_id: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(self.prefix + job_id)
            pipe.srem(self.ids, job_id)
            pipe.execute()

    def announce(self, worker: str, seconds: float) -> None:
        """This worker is alive for the next `seconds`, by Redis's clock (a key that expires): machines' clocks
        need not agree."""
        self.redis.set(self.workers + worker, "1", px=max(1, round(seconds * 1000)))

    def withdraw(self, worker: str) -> None:
        self.redis.delete(self.workers + worker)

    def live_workers(self) -> int:
        return sum(1 for _ in self.redis.scan_iter(match=self.workers + "*", count=1000))


# ---------------------------------------------------------------------------------------------------------------

class Jobs:
    def __init__(self, settings: JobSettings, work: Work, name: str = "colorizer"):
        self.settings = settings
        self.work_function = work
        if settings.redis_url:
            self.huey = RedisHuey(name, url=settings.redis_url, results=False)
            self.store = RedisStore(self.huey.storage.conn, name)
        else:
            self.huey = SqliteHuey(name, filename=str(settings.folder / QUEUE_FILE), results=False)
            self.store = SqliteStore(settings.folder / QUEUE_FILE)
        self.task = self.huey.task(name="colorize_video")(self.run)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._at_exit = False
        self._checked_durability = False
        self._worker_threads = 0  # worker threads this process runs: it announces itself while there are any
        self._running: dict[str, str] = {}  # job id -> runner token, for the jobs this process runs
        self._beats: dict[str, tuple] = {}  # sweeper's memory: job id -> ((runner, beat), first seen, monotonic)
        self._missing: dict[str, tuple] = {}  # job id -> (ticket, first seen missing from the queue)

    def init_app(self, app, start: bool = True) -> "Jobs":
        """Registers the queue as app.extensions["jobs"] and, with start, starts its threads with the app (the
        settings' worker threads and the sweeper), so that queued jobs run and expired ones go after a restart
        whether or not anyone calls /videos. A process that exits hands its running jobs back (atexit)."""
        app.extensions["jobs"] = self
        if start:
            self.start()
        return self

    # --- the web's side ------------------------------------------------------------------------------------

    def folder(self, job_id: str) -> Path:
        return self.settings.folder / job_id

    def room(self) -> str | None:
        """Why a new job cannot be taken now (the queue is full, the disk nearly so), or None."""
        queued = sum(job.state == State.QUEUED for job in self.store.all())
        if queued >= self.settings.max_queued:
            return f"The video queue is full ({queued} videos waiting); try again later."
        if shutil.disk_usage(self.settings.folder).free < self.settings.min_free_bytes:
            return "The server is short of disk space for videos; try again later."
        return None

    def create(self) -> tuple[str, Path]:
        """A new job id and its empty folder, for the upload."""
        job_id = secrets.token_hex(16)
        folder = self.folder(job_id)
        folder.mkdir(mode=0o700)
        return job_id, folder

    def discard(self, job_id: str) -> None:
        """Removes the folder of a job that was never submitted (a refused upload)."""
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def submit(self, job_id: str, name: str, source: str, request: dict, frames: int) -> Job:
        """Records the job (its upload already in its folder, as `source`) and queues it. request: plain JSON,
        handed to the work as it is."""
        job = Job(job_id, name, source, request, frames, ticket=secrets.token_hex(8), created=time.time())
        self.store.add(job)
        try:
            # room() was asked before the upload was read; other processes may have queued jobs since. Each new job
            # looks at the queued ones, itself included, in one order that every process sees alike: the ones past
            # the limit withdraw, so the queue never holds more than max_queued (two at once may both withdraw).
            queued = sorted((j.created, j.id) for j in self.store.all() if j.state == State.QUEUED)
            if (job.created, job_id) in queued[self.settings.max_queued:]:
                raise QueueFull(f"The video queue is full ({len(queued) - 1} videos waiting); try again later.")
            self.task(job_id, job.ticket)
        except BaseException:
            self.store.delete(job_id)
            raise
        return job

    def get(self, job_id: str) -> Job | None:
        """The job's record; None if there is none or it has expired (then it is removed now)."""
        if not ID_PATTERN.fullmatch(job_id):
            return None
        job = self.store.get(job_id)
        if job is not None and job.expired(time.time(), self.settings.ttl):
            self.remove(job_id)
            return None
        return job

    def result_path(self, job_id: str) -> Path:
        """Where a done job's MP4 is."""
        return self.folder(job_id) / RESULT

    def cancel(self, job_id: str) -> bool:
        """Stops a queued or running job (it stays, as cancelled, until it expires) or removes an ended one; its
        files go at once. False if there is no such job."""
        if self.get(job_id) is None:
            return False
        job, cancelled = self.store.update(job_id, lambda j: cancel(j, time.time()))
        if job is not None and not cancelled:
            self.store.delete(job_id)
        shutil.rmtree(self.folder(job_id), ignore_errors=True)
        return job is not None

    def live_workers(self) -> int:
        """Processes with worker threads on this queue that announced themselves within the last beat or two."""
        return self.store.live_workers()

    def remove(self, job_id: str) -> None:
        self.store.delete(job_id)
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    # --- the workers' side ---------------------------------------------------------------------------------

    def start(self, threads: int | None = None, here: bool = False) -> None:
        """Runs `threads` worker threads in this process (default: the settings'; more than once adds up to that
        many) and the sweeper, which also announces this process while it runs worker threads.

        here: the calling thread is one of them, and start returns only once close() (from another thread) has
        stopped this process's workers. `python -m app.worker` works so in its main thread: TorchScript ran the
        network about 1.5 times as slowly in any other thread (torch 2.13, 2 cores; eager convolutions did not),
        and a film through the worker about 10% more slowly than through the command line."""
        count = self.settings.threads if threads is None else threads
        with self._start_lock:
            if count and not self._checked_durability:
                self._checked_durability = True
                why = self.durability_warning()
                if why:
                    log.warning(why)
            self._stop.clear()
            self._worker_threads = max(self._worker_threads, count)
            if count:
                self.announce()  # at once: a job queued now finds a worker
            if not any(thread.name == "video-sweeper" for thread in self._threads):
                self._spawn(self.sweep_forever, "video-sweeper")
            while sum(thread.name.startswith("video-worker") for thread in self._threads) < count - here:
                self._spawn(self.work, f"video-worker-{len(self._threads)}")
            if count and not self._at_exit:  # a web process that exits (gunicorn recycles its workers) hands
                atexit.register(self.close)  # its running jobs back, as `python -m app.worker` does on SIGTERM
                self._at_exit = True
        if here and count:
            self.work()

    def durability_warning(self) -> str | None:
        """Why the queue's storage would lose jobs if it crashed or restarted, or None. Redis keeps its data only
        in memory unless its append-only file is on (Debian's default is off); a Redis whose CONFIG command is
        renamed or disabled (managed services do) cannot be asked, and is taken at its word."""
        if not self.settings.redis_url:
            return None  # SQLite writes each change to its file before it answers
        try:
            answer = self.huey.storage.conn.config_get("appendonly")
        except RedisError as error:
            log.info("cannot ask Redis whether its append-only file is on (%s); make sure it is", error)
            return None
        value = {str(k, "utf-8") if isinstance(k, bytes) else k: str(v, "utf-8") if isinstance(v, bytes) else v
                 for k, v in answer.items()}.get("appendonly")
        if value != "no":
            return None
        return ("Redis runs with appendonly no: if it crashes or is restarted, the video jobs queued and running "
                "are lost (their uploads stay until the sweepers remove them a day later). Set appendonly yes in "
                "redis.conf (or CONFIG SET appendonly yes) to keep them.")

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def close(self, hand_back: bool = True, timeout: float = 5.0) -> None:
        """Stops this process's threads; its running jobs go back to the queue (or simply stop, when not)."""
        self._stop.set()
        if hand_back:
            self.hand_back()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        if self._worker_threads:
            self._worker_threads = 0
            with contextlib.suppress(*BACKEND_ERRORS):
                self.store.withdraw(worker_name())

    def announce(self) -> None:
        """This process runs worker threads: alive for two beats (a missed one is not death)."""
        try:
            self.store.announce(worker_name(), 2 * self.worker_beat_seconds())
        except BACKEND_ERRORS:
            log.warning("cannot reach the queue's storage to announce this video worker")

    def worker_beat_seconds(self) -> float:
        return min(WORKER_BEAT_SECONDS, self.settings.lease / 4)

    def work(self) -> None:
        """A worker thread: take the next message, run it, until stopped. No error ends the thread: the storage
        failing under huey's own bookkeeping (before or after the task) is logged and the loop goes on; a message
        lost that way is queued again by the sweepers after the lease (`sweep`)."""
        while not self._stop.is_set():
            try:
                task = self.huey.dequeue()  # Redis: waits up to a second for one; SQLite: returns at once
            except Exception:
                log.exception("cannot read the video queue; retrying in %g s", RETRY_SECONDS)
                self._stop.wait(RETRY_SECONDS)
                continue
            if task is None:
                if not self.settings.redis_url:
                    self._stop.wait(IDLE_POLL_SECONDS)
                continue
            try:
                if self._stop.is_set():  # taken while stopping: put it back rather than start it
                    self.huey.enqueue(task)
                    return
                self.huey.execute(task)
            except Exception:
                log.exception("the video queue failed around a job; this worker goes on in %g s", RETRY_SECONDS)
                self._stop.wait(RETRY_SECONDS)

    def run(self, job_id: str, ticket: str) -> None:
        """The task: claims the job under its ticket, runs the work with beats and progress, records the end."""
        runner = secrets.token_hex(8)
        job, claimed = self.store.update(job_id, lambda j: claim(j, ticket, runner, worker_name(), time.time()))
        if not claimed:
            return  # cancelled, or a stale message: the job was queued again under a newer ticket
        self._running[job_id] = runner
        lost = threading.Event()  # set when the record is no longer this runner's: stop working on it
        beating = threading.Event()
        beater = threading.Thread(target=self.keep_lease, args=(job_id, runner, lost, beating), daemon=True,
                                  name=f"video-beat-{job_id[:8]}")
        beater.start()
        try:
            ending = self.run_work(job, runner, lost)
            if ending is not None:  # the beats go on until the end is written: it may wait for the storage
                ended = self.end(job_id, ending[1])
        finally:
            beating.set()
            self._running.pop(job_id, None)
        folder = self.folder(job_id)
        if ending is None or not ended:  # stopped (this process is closing), or no longer this runner's job
            if lost.is_set() or ending is not None:
                final = self.store.get(job_id)
                if final is None or final.state == State.CANCELLED:  # DELETE removed the folder; the work may
                    shutil.rmtree(folder, ignore_errors=True)         # have written into it again since
            return  # else another worker has it now, or will (handed back, or after the lease): its files stay
        if ending[0] == State.DONE:
            for leftover in folder.iterdir():  # the upload, and temporary files of attempts that were killed
                if leftover.name != RESULT:
                    remove_path(leftover)
        else:
            shutil.rmtree(folder, ignore_errors=True)  # failed: nothing in it is wanted

    def end(self, job_id: str, ending: Callable[[Job], Job | None]) -> bool:
        """Writes a job's end (a transition to done or failed, None once the runner lost it); tries again while the
        storage cannot be reached, so a job that was finished is not run again for it. False when the job is no
        longer this runner's (cancelled, taken over), or this process stopped before the storage came back."""
        while True:
            try:
                return self.apply(job_id, ending)
            except BACKEND_ERRORS:
                log.warning("cannot reach the queue's storage to record the end of video job %s; retrying in %g s",
                            job_id, RETRY_SECONDS)
                if self._stop.wait(RETRY_SECONDS):
                    return False

    def run_work(self, job: Job, runner: str, lost: threading.Event
                 ) -> tuple[State, Callable[[Job], Job | None]] | None:
        """Runs the work; returns the state it ends in and the transition there (finish or fail), or None when it
        was stopped: lost (cancelled, or given to another worker), or this process is closing."""
        folder = self.folder(job.id)
        started = time.monotonic()
        last_write = -PROGRESS_SECONDS
        frames = {"done": 0, "total": job.frames_total}

        def progress(done: int, total: int) -> None:
            nonlocal last_write
            if lost.is_set() or self._stop.is_set():
                raise JobCancelled
            frames.update(done=done, total=total)
            now = time.monotonic()
            if now - started > self.settings.timeout:
                raise JobTimedOut
            if done < total and now - last_write < PROGRESS_SECONDS:
                return
            last_write = now
            left = round((now - started) / done * (total - done), 1) if done else None
            try:
                still_mine = self.apply(job.id, lambda j: beat(j, runner, frames_done=done, frames_total=total,
                                                               seconds_left=left))
            except BACKEND_ERRORS:  # the storage is briefly unreachable: keep working, report next time
                log.warning("cannot reach the queue's storage to report video job %s's progress", job.id)
                return
            if not still_mine:
                lost.set()
                raise JobCancelled

        def failed(error: str):
            return State.FAILED, lambda j: fail(j, runner, error, time.time())

        try:
            written = self.work_function(folder / job.source, folder / RESULT, job.request, progress)
        except JobCancelled:
            return None
        except JobTimedOut:
            return failed(f"The video was stopped after {clock(self.settings.timeout)} of work, the limit for one "
                          f"video, with {frames['done']} of {frames['total']} frames colorized.")
        except WorkFailed as error:
            return failed(str(error))
        except Exception:
            if lost.is_set() or self._stop.is_set():  # e.g. cancelled while writing: its files were removed under it
                return None
            log.exception("video job %s failed", job.id)
            return failed("The video could not be colorized: an error on our side; it is logged.")
        written, details = written if isinstance(written, tuple) else (written, {})
        total = written or frames["total"]
        return State.DONE, lambda j: finish(j, runner, total, time.time(), details)

    def apply(self, job_id: str, transition: Callable[[Job], Job | None]) -> bool:
        """A transition of a job this process runs (a beat, its end); False when it no longer applies (the job was
        cancelled, or given to another worker)."""
        return self.store.update(job_id, transition)[1]

    def keep_lease(self, job_id: str, runner: str, lost: threading.Event, done: threading.Event) -> None:
        """Beats while a frame takes long (the first one loads the decoder, a slow CPU...)."""
        while not done.wait(self.settings.lease / 4):
            try:
                if not self.apply(job_id, lambda j: beat(j, runner)):
                    lost.set()
                    return
            except BACKEND_ERRORS:
                log.warning("cannot reach the queue's storage to keep video job %s alive", job_id)

    def hand_back(self) -> None:
        """Puts this process's running jobs back in the queue, not counting the attempt; a job handed back
        MAX_HAND_BACKS times is failed instead (it would start from its first frame again)."""
        for job_id, runner in list(self._running.items()):
            ticket = secrets.token_hex(8)
            try:
                job, changed = self.store.update(job_id, lambda j: hand_back(j, runner, ticket, time.time()))
                if not changed:
                    continue
                if job.state == State.QUEUED:
                    self.task(job_id, ticket)
                else:
                    log.warning("video job %s handed back %d times; failed", job_id, job.hand_backs)
                    shutil.rmtree(self.folder(job_id), ignore_errors=True)
            except BACKEND_ERRORS:
                log.warning("could not hand video job %s back; it runs again after the lease", job_id)

    # --- the sweeper: recovery and expiry ------------------------------------------------------------------

    def sweep_forever(self) -> None:
        """Sweeps at once (what expired while no process ran goes now), then every third of the lease; announces
        this process while it runs worker threads."""
        interval = max(0.2, min(30.0, self.settings.lease / 3))
        next_sweep = 0.0
        while True:
            if self._worker_threads:
                self.announce()
            if time.monotonic() >= next_sweep:
                self.sweep_once()
                next_sweep = time.monotonic() + interval
            wait = min(interval, self.worker_beat_seconds()) if self._worker_threads else interval
            if self._stop.wait(wait):
                return

    def sweep_once(self) -> None:
        """A sweep that no error stops. Silences are timed only while the storage can be seen: beats that could not
        arrive during an outage are not the workers' fault, and they beat again as soon as it answers."""
        try:
            self.sweep()
        except Exception:
            log.exception("sweeping video jobs failed; trying again")
            self._beats.clear()
            self._missing.clear()

    def sweep(self) -> None:
        """One pass: removes expired jobs and orphan folders, queues again jobs whose worker is gone."""
        now, clock = time.time(), time.monotonic()
        jobs = self.store.all()
        known = {job.id for job in jobs}
        queued_tickets = None
        for job in jobs:
            if job.expired(now, self.settings.ttl):
                self.remove(job.id)
            elif job.state == State.RUNNING:
                seen = (job.runner, job.beat)
                if job.id not in self._beats or self._beats[job.id][0] != seen:
                    self._beats[job.id] = (seen, clock)
                elif clock - self._beats[job.id][1] > self.settings.lease:
                    self.lease_lost(job.id, lambda j: j.state == State.RUNNING and (j.runner, j.beat) == seen,
                                    "its worker stopped")
            elif job.state == State.QUEUED:
                if queued_tickets is None:
                    queued_tickets = {task.args[1] for task in self.huey.pending() if len(task.args) == 2}
                ticket = job.ticket
                if ticket in queued_tickets:
                    self._missing.pop(job.id, None)
                elif job.id not in self._missing or self._missing[job.id][0] != ticket:
                    self._missing[job.id] = (ticket, clock)
                elif clock - self._missing[job.id][1] > self.settings.lease:
                    self.lease_lost(job.id, lambda j: j.state == State.QUEUED and j.ticket == ticket,
                                    "its worker stopped as it took it")
        for memory in (self._beats, self._missing):
            for job_id in set(memory) - known:
                del memory[job_id]
        self.remove_orphans(known, now)

    def lease_lost(self, job_id: str, still: Callable[[Job], bool], why: str) -> None:
        """Queues the job again under a new ticket (requeue), or fails it once it was started `attempts` times."""
        ticket = secrets.token_hex(8)
        limit = self.settings.attempts
        job, changed = self.store.update(job_id, lambda j: requeue(j, ticket, limit, time.time()) if still(j)
                                         else None)
        self._beats.pop(job_id, None)
        self._missing.pop(job_id, None)
        if not changed:
            return
        if job.state == State.QUEUED:
            log.warning("video job %s: %s; queued again (attempt %d of %d next)", job_id, why, job.attempts + 1,
                        limit)
            self.task(job_id, ticket)
        else:
            log.warning("video job %s: %s, %d times; failed", job_id, why, job.attempts)
            shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def remove_orphans(self, known: set, now: float) -> None:
        for entry in self.settings.folder.iterdir():
            if entry.name in known or not ID_PATTERN.fullmatch(entry.name):
                continue
            try:
                newest = max([entry.stat().st_mtime] + [f.stat().st_mtime for f in entry.iterdir()])
            except OSError:
                continue
            if now - newest > ORPHAN_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)


def clock(seconds: float) -> str:
    """Seconds as h:mm:ss, or m:ss under an hour."""
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
