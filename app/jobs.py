"""Video jobs: long work queued, run by workers, watched by the web process.

    jobs = Jobs(JobSettings.from_config(app.config), colorizer)
    job_id, folder = jobs.create()                 # a new job's own folder: the upload goes there
    jobs.submit(job_id, name, source, hints, vividness, frames)
    jobs.get(job_id)                               # its record: state, frames done / total, seconds left
    jobs.result_path(job_id)                       # where the finished MP4 is
    jobs.cancel(job_id)                            # stops it, removes its files
    jobs.start(threads)                            # run jobs in this process (a worker, or the web's own threads)

Why huey, and the design around it. The queue must need no server by default, and run on Redis with workers on
other machines after changing one setting. huey 3.5 has both behind one API: `SqliteHuey` (a SQLite file in the
job folder, shared by every process on the machine) and `RedisHuey`. RQ, Celery and dramatiq need a broker even
for one machine. So the queue is huey's, and the rest is written once on top of it:

- Records. Each job is a JSON record in the queue's own storage (a table in the same SQLite file, or a Redis key),
  changed only through `Store.update`, an atomic compare-and-set (SQLite's `begin immediate`, Redis's WATCH/MULTI),
  so the web process (cancel), the worker running the job (progress) and any other process (recovery) never
  overwrite each other. Every process, on any machine, sees the same progress.
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
- A work budget. Each film's frames (`max_frames`) and frame size (`max_pixels`) are checked before it is queued
  (app/videos.py) and again as it is decoded (model.video's limits), and a job that runs longer than `timeout`
  seconds is stopped and failed.
- The storage failing. A worker thread outlives any error of the queue's storage (it logs, waits and goes on), and
  a finished job's end is written again until the storage answers, so the job is not run a second time.
- Files. A job's folder holds its upload and its result; the upload is removed when the job ends, the folder when
  the job is cancelled or expires (`ttl` seconds after it ended), and folders without a record after a day. Workers
  and the web process must see the same folder (one machine, or shared storage such as NFS): results are files,
  too large to pass through Redis.
- The work is `video_function` (default `model.video:colorize_video`), resolved at startup; tests point it at a
  slower wrapper. Its `progress(done, total)` callback records progress and raises `JobCancelled` to stop.
"""
import atexit
import contextlib
import importlib
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from huey import RedisHuey, SqliteHuey
from redis.exceptions import RedisError, WatchError

from model.video import VideoError, VideoLimits

log = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
ID_PATTERN = re.compile(r"[0-9a-f]{32}")
RESULT = "result.mp4"
QUEUE_FILE = "queue.sqlite3"
PROGRESS_SECONDS = 1.0  # progress is written at most this often per job: a long film costs no more per frame
ORPHAN_SECONDS = 24 * 3600  # a folder with no record (a process died between making it and queuing the job)
IDLE_POLL_SECONDS = 0.25  # how often an idle worker looks at the SQLite queue (Redis wakes it at once)
BACKEND_ERRORS = (sqlite3.Error, RedisError)  # the queue's storage cannot be reached: 503, not 500
RETRY_SECONDS = 5.0  # how long a worker waits before it tries its storage again
MAX_HAND_BACKS = 5  # hand-backs (the process running it was stopping) before a job is failed instead


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
    max_frames: int = 36_000  # frames of a film, checked again as it is decoded
    max_pixels: int = 1920 * 1080  # width x height of each of its frames, checked before a frame is converted
    timeout: float = 6 * 3600.0  # seconds a job may run before it is stopped and failed
    video_function: str = "model.video:colorize_video"

    @classmethod
    def from_config(cls, config) -> "JobSettings":
        folder = Path(config["JOB_FOLDER"]) if config["JOB_FOLDER"] else default_folder()
        threads = config["JOB_THREADS"]
        if threads == "auto":  # the web process runs jobs itself only with the embedded queue
            threads = 0 if config["REDIS_URL"] else 1
        return cls(folder=folder, redis_url=config["REDIS_URL"], threads=threads, ttl=config["JOB_TTL"],
                   lease=config["JOB_LEASE"], attempts=config["JOB_ATTEMPTS"], max_queued=config["MAX_QUEUED"],
                   min_free_bytes=2 * config["MAX_VIDEO_BYTES"], max_frames=config["MAX_VIDEO_FRAMES"],
                   max_pixels=config["MAX_VIDEO_PIXELS"], timeout=config["JOB_TIMEOUT"],
                   video_function=config["VIDEO_FUNCTION"])


def prepare_folder(folder: Path, default: bool) -> None:
    """Makes the job folder (private to this user); the default one, in a shared temp dir, must be ours."""
    folder.mkdir(mode=0o700, parents=not default, exist_ok=True)
    if default:
        status = folder.lstat()
        if folder.is_symlink() or not folder.is_dir() or status.st_uid != os.getuid() or status.st_mode & 0o077:
            raise ValueError(f"{folder} is not a private folder of this user; set COLORIZER_JOB_FOLDER")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{folder} is not writable")


def resolve(dotted: str) -> Callable:
    """'package.module:function' -> the function."""
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------------------------------------------------------
# Records: one store for each kind of queue storage, the same five operations.

class SqliteStore:
    """Job records in a table of the queue's own SQLite file. A connection per call: cheap, and fork- and
    thread-safe; WAL mode (set by huey on the file) lets readers run beside the one writer."""

    def __init__(self, path: Path):
        self.path = str(path)
        with self.connect() as db:
            db.execute("create table if not exists colorizer_job (id text primary key, record text not null)")

    @contextlib.contextmanager
    def connect(self):
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)  # autocommit, but for `begin`
        try:
            yield db
        finally:
            db.close()

    def add(self, record: dict) -> None:
        with self.connect() as db:
            db.execute("insert into colorizer_job (id, record) values (?, ?)", (record["id"], json.dumps(record)))

    def get(self, job_id: str) -> dict | None:
        with self.connect() as db:
            row = db.execute("select record from colorizer_job where id = ?", (job_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def all(self) -> list[dict]:
        with self.connect() as db:
            return [json.loads(row[0]) for row in db.execute("select record from colorizer_job")]

    def update(self, job_id: str, change: Callable[[dict], dict | None]) -> tuple[dict | None, bool]:
        """change(record) -> the fields to change, or None to leave it; atomic. Returns (record, changed);
        record is None when there is no such job."""
        with self.connect() as db:
            db.execute("begin immediate")  # the write lock first: no other process changes it between
            try:
                row = db.execute("select record from colorizer_job where id = ?", (job_id,)).fetchone()
                record = json.loads(row[0]) if row else None
                changes = change(record) if record is not None else None
                if changes:
                    record.update(changes)
                    db.execute("update colorizer_job set record = ? where id = ?", (json.dumps(record), job_id))
            except BaseException:
                db.execute("rollback")
                raise
            db.execute("commit")
            return record, bool(changes)

    def delete(self, job_id: str) -> None:
        with self.connect() as db:
            db.execute("delete from colorizer_job where id = ?", (job_id,))


class RedisStore:
    """Job records as Redis strings (JSON) beside huey's keys, and a set of their ids."""

    def __init__(self, redis, name: str):
        self.redis = redis
        self.prefix = f"{name}.job."
        self.ids = f"{name}.jobs"

    def add(self, record: dict) -> None:
        with self.redis.pipeline() as pipe:
            pipe.set(self.prefix + record["id"], json.dumps(record))
            pipe.sadd(self.ids, record["id"])
            pipe.execute()

    def get(self, job_id: str) -> dict | None:
        raw = self.redis.get(self.prefix + job_id)
        return json.loads(raw) if raw is not None else None

    def all(self) -> list[dict]:
        ids = sorted(member.decode() for member in self.redis.smembers(self.ids))
        if not ids:
            return []
        values = self.redis.mget([self.prefix + job_id for job_id in ids])
        gone = [job_id for job_id, raw in zip(ids, values) if raw is None]
        if gone:
            self.redis.srem(self.ids, *gone)
        return [json.loads(raw) for raw in values if raw is not None]

    def update(self, job_id: str, change: Callable[[dict], dict | None]) -> tuple[dict | None, bool]:
        key = self.prefix + job_id
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    record = json.loads(raw) if raw is not None else None
                    changes = change(record) if record is not None else None
                    if not changes:
                        pipe.unwatch()
                        return record, False
                    record.update(changes)
                    pipe.multi()
                    pipe.set(key, json.dumps(record))
                    pipe.execute()
                    return record, True
                except WatchError:  # another process changed it meanwhile: read it again
                    continue

    def delete(self, job_id: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(self.prefix + job_id)
            pipe.srem(self.ids, job_id)
            pipe.execute()


# ---------------------------------------------------------------------------------------------------------------

class Jobs:
    def __init__(self, settings: JobSettings, colorizer, name: str = "colorizer"):
        self.settings = settings
        self.colorizer = colorizer
        self.video_function = resolve(settings.video_function)
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
        self._running: dict[str, str] = {}  # job id -> runner token, for the jobs this process runs
        self._beats: dict[str, tuple] = {}  # sweeper's memory: job id -> ((runner, beat), first seen, monotonic)
        self._missing: dict[str, tuple] = {}  # job id -> (ticket, first seen missing from the queue)

    # --- the web's side ------------------------------------------------------------------------------------

    def folder(self, job_id: str) -> Path:
        return self.settings.folder / job_id

    def room(self) -> str | None:
        """Why a new job cannot be taken now (the queue is full, the disk nearly so), or None."""
        queued = sum(record["state"] == "queued" for record in self.store.all())
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

    def submit(self, job_id: str, name: str, source: str, hints: list, vividness: float | None,
               frames: int) -> dict:
        """Records the job (its upload already in its folder, as `source`) and queues it."""
        ticket = secrets.token_hex(8)
        record = {"id": job_id, "name": name, "source": source, "hints": hints, "vividness": vividness,
                  "state": "queued", "ticket": ticket, "attempts": 0, "hand_backs": 0, "runner": None, "worker": None,
                  "beat": 0, "frames_done": 0, "frames_total": frames, "seconds_left": None, "error": None,
                  "created": time.time(), "finished": None}
        self.store.add(record)
        try:
            # room() was asked before the upload was read; other processes may have queued jobs since. Each new job
            # looks at the queued ones, itself included, in one order that every process sees alike: the ones past
            # the limit withdraw, so the queue never holds more than max_queued (two at once may both withdraw).
            queued = sorted((r["created"], r["id"]) for r in self.store.all() if r["state"] == "queued")
            if (record["created"], job_id) in queued[self.settings.max_queued:]:
                raise QueueFull(f"The video queue is full ({len(queued) - 1} videos waiting); try again later.")
            self.task(job_id, ticket)
        except BaseException:
            self.store.delete(job_id)
            raise
        return record

    def get(self, job_id: str) -> dict | None:
        """The job's record; None if there is none or it has expired (then it is removed now)."""
        if not ID_PATTERN.fullmatch(job_id):
            return None
        record = self.store.get(job_id)
        if record is not None and self.expired(record, time.time()):
            self.remove(job_id)
            return None
        return record

    def result_path(self, job_id: str) -> Path:
        """Where a done job's MP4 is."""
        return self.folder(job_id) / RESULT

    def cancel(self, job_id: str) -> bool:
        """Stops a queued or running job (it stays, as cancelled, until it expires) or removes an ended one; its
        files go at once. False if there is no such job."""
        if self.get(job_id) is None:
            return False
        record, cancelled = self.store.update(job_id, lambda r: r["state"] in ACTIVE and {
            "state": "cancelled", "finished": time.time(), "seconds_left": None, "runner": None})
        if record is not None and not cancelled:
            self.store.delete(job_id)
        shutil.rmtree(self.folder(job_id), ignore_errors=True)
        return record is not None

    def expired(self, record: dict, now: float) -> bool:
        return record["finished"] is not None and now >= record["finished"] + self.settings.ttl

    def remove(self, job_id: str) -> None:
        self.store.delete(job_id)
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    # --- the workers' side ---------------------------------------------------------------------------------

    def start(self, threads: int | None = None) -> None:
        """Runs `threads` worker threads in this process (default: the settings'; more than once adds up to that
        many) and the sweeper."""
        count = self.settings.threads if threads is None else threads
        with self._start_lock:
            if count and not self._checked_durability:
                self._checked_durability = True
                why = self.durability_warning()
                if why:
                    log.warning(why)
            self._stop.clear()
            if not any(thread.name == "video-sweeper" for thread in self._threads):
                self._spawn(self.sweep_forever, "video-sweeper")
            while sum(thread.name.startswith("video-worker") for thread in self._threads) < count:
                self._spawn(self.work, f"video-worker-{len(self._threads)}")
            if count and not self._at_exit:  # a web process that exits (gunicorn recycles its workers) hands
                atexit.register(self.close)  # its running jobs back, as `python -m app.worker` does on SIGTERM
                self._at_exit = True

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
        """The task: claims the job under its ticket, colorizes with beats and progress, records the end."""
        runner = secrets.token_hex(8)
        record, claimed = self.store.update(job_id, lambda r: r["state"] == "queued" and r["ticket"] == ticket and {
            "state": "running", "runner": runner, "worker": worker_name(), "attempts": r["attempts"] + 1,
            "beat": r["beat"] + 1, "frames_done": 0, "seconds_left": None})
        if not claimed:
            return  # cancelled, or a stale message: the job was queued again under a newer ticket
        self._running[job_id] = runner
        lost = threading.Event()  # set when the record is no longer this runner's: stop working on it
        beating = threading.Event()
        beater = threading.Thread(target=self.beat, args=(job_id, runner, lost, beating), daemon=True,
                                  name=f"video-beat-{job_id[:8]}")
        beater.start()
        try:
            ending = self.colorize(record, runner, lost)
            if ending is not None:  # the beats go on until the end is written: it may wait for the storage
                ended = self.end(job_id, runner, ending)
        finally:
            beating.set()
            self._running.pop(job_id, None)
        folder = self.folder(job_id)
        if ending is None or not ended:  # stopped (this process is closing), or no longer this runner's job
            if lost.is_set() or ending is not None:
                final = self.store.get(job_id)
                if final is None or final["state"] == "cancelled":  # DELETE removed the folder; the work may
                    shutil.rmtree(folder, ignore_errors=True)        # have written into it again since
            return  # else another worker has it now, or will (handed back, or after the lease): its files stay
        if ending["state"] == "done":
            for leftover in folder.iterdir():  # the upload, and temporary files of attempts that were killed
                if leftover.name != RESULT:
                    remove_path(leftover)
        else:
            shutil.rmtree(folder, ignore_errors=True)  # failed: nothing in it is wanted

    def end(self, job_id: str, runner: str, ending: dict) -> bool:
        """Writes a job's end (done or failed) while this runner still has it; tries again while the storage cannot
        be reached, so a job that was finished is not run again for it. False when the job is no longer this
        runner's (cancelled, taken over), or this process stopped before the storage came back."""
        now = time.time()
        while True:
            try:
                return self.mine(job_id, runner, lambda r: {**ending, "finished": now, "seconds_left": None,
                                                            "runner": None})
            except BACKEND_ERRORS:
                log.warning("cannot reach the queue's storage to record the end of video job %s; retrying in %g s",
                            job_id, RETRY_SECONDS)
                if self._stop.wait(RETRY_SECONDS):
                    return False

    def colorize(self, record: dict, runner: str, lost: threading.Event) -> dict | None:
        """Runs the video function; returns the fields that end the job (done or failed), or None when it was
        stopped: lost (cancelled, or given to another worker), or this process is closing."""
        job_id = record["id"]
        folder = self.folder(job_id)
        started = time.monotonic()
        last_write = -PROGRESS_SECONDS
        frames = {"done": 0, "total": record["frames_total"]}

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
                still_mine = self.mine(job_id, runner, lambda r: {"frames_done": done, "frames_total": total,
                                                                  "seconds_left": left, "beat": r["beat"] + 1})
            except BACKEND_ERRORS:  # the storage is briefly unreachable: keep working, report next time
                log.warning("cannot reach the queue's storage to report video job %s's progress", job_id)
                return
            if not still_mine:
                lost.set()
                raise JobCancelled

        try:
            info = self.video_function(self.colorizer, folder / record["source"], folder / RESULT,
                                       hints=record["hints"] or None, vividness=record["vividness"],
                                       progress=progress, limits=VideoLimits(self.settings.max_frames,
                                                                             self.settings.max_pixels))
        except JobCancelled:
            return None
        except JobTimedOut:
            return {"state": "failed", "error": f"The video was stopped after {clock(self.settings.timeout)} of work, "
                                                f"the limit for one video, with {frames['done']} of {frames['total']} "
                                                f"frames colorized."}
        except VideoError as error:
            return {"state": "failed", "error": str(error)}
        except Exception:
            if lost.is_set() or self._stop.is_set():  # e.g. cancelled while writing: its files were removed under it
                return None
            log.exception("video job %s failed", job_id)
            return {"state": "failed", "error": "The video could not be colorized: an error on our side; it is "
                                                "logged."}
        total = getattr(info, "frames", None) or frames["total"]
        return {"state": "done", "frames_done": total, "frames_total": total}

    def mine(self, job_id: str, runner: str, change: Callable[[dict], dict]) -> bool:
        """Applies change to the job while this runner still runs it; False when it no longer does."""
        _, changed = self.store.update(
            job_id, lambda r: r["state"] == "running" and r["runner"] == runner and change(r))
        return changed

    def beat(self, job_id: str, runner: str, lost: threading.Event, done: threading.Event) -> None:
        """Keeps the lease while a frame takes long (the first one loads the decoder, a slow CPU...)."""
        while not done.wait(self.settings.lease / 4):
            try:
                if not self.mine(job_id, runner, lambda r: {"beat": r["beat"] + 1}):
                    lost.set()
                    return
            except BACKEND_ERRORS:
                log.warning("cannot reach the queue's storage to keep video job %s alive", job_id)

    def hand_back(self) -> None:
        """Puts this process's running jobs back in the queue, not counting the attempt; a job handed back
        MAX_HAND_BACKS times is failed instead (it would start from its first frame again)."""
        for job_id, runner in list(self._running.items()):
            ticket = secrets.token_hex(8)

            def back(r: dict) -> dict:
                hand_backs = r.get("hand_backs", 0) + 1
                if hand_backs >= MAX_HAND_BACKS:
                    return {"state": "failed", "runner": None, "seconds_left": None, "finished": time.time(),
                            "hand_backs": hand_backs,
                            "error": f"The video was stopped {hand_backs} times before it was finished, each time "
                                     f"because the process colorizing it was stopping (a restart, or a web worker "
                                     f"being replaced), and each time it started again from its first frame; it "
                                     f"was not started again."}
                return {"state": "queued", "ticket": ticket, "runner": None, "hand_backs": hand_backs,
                        "attempts": max(0, r["attempts"] - 1)}
            try:
                record, changed = self.store.update(
                    job_id, lambda r: r["state"] == "running" and r["runner"] == runner and back(r))
                if not changed:
                    continue
                if record["state"] == "queued":
                    self.task(job_id, ticket)
                else:
                    log.warning("video job %s handed back %d times; failed", job_id, record["hand_backs"])
                    shutil.rmtree(self.folder(job_id), ignore_errors=True)
            except BACKEND_ERRORS:
                log.warning("could not hand video job %s back; it runs again after the lease", job_id)

    # --- the sweeper: recovery and expiry ------------------------------------------------------------------

    def sweep_forever(self) -> None:
        """Sweeps at once (what expired while no process ran goes now), then every third of the lease."""
        interval = max(0.2, min(30.0, self.settings.lease / 3))
        while True:
            self.sweep_once()
            if self._stop.wait(interval):
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
        records = self.store.all()
        known = {record["id"] for record in records}
        queued_tickets = None
        for record in records:
            job_id = record["id"]
            if self.expired(record, now):
                self.remove(job_id)
            elif record["state"] == "running":
                seen = (record["runner"], record["beat"])
                if job_id not in self._beats or self._beats[job_id][0] != seen:
                    self._beats[job_id] = (seen, clock)
                elif clock - self._beats[job_id][1] > self.settings.lease:
                    self.requeue(job_id, lambda r: r["state"] == "running" and (r["runner"], r["beat"]) == seen,
                                 "its worker stopped")
            elif record["state"] == "queued":
                if queued_tickets is None:
                    queued_tickets = {task.args[1] for task in self.huey.pending() if len(task.args) == 2}
                ticket = record["ticket"]
                if ticket in queued_tickets:
                    self._missing.pop(job_id, None)
                elif job_id not in self._missing or self._missing[job_id][0] != ticket:
                    self._missing[job_id] = (ticket, clock)
                elif clock - self._missing[job_id][1] > self.settings.lease:
                    self.requeue(job_id, lambda r: r["state"] == "queued" and r["ticket"] == ticket,
                                 "its worker stopped as it took it")
        for memory in (self._beats, self._missing):
            for job_id in set(memory) - known:
                del memory[job_id]
        self.remove_orphans(known, now)

    def requeue(self, job_id: str, still: Callable[[dict], bool], why: str) -> None:
        """Queues the job again under a new ticket, or fails it once it has been started `attempts` times."""
        ticket = secrets.token_hex(8)
        limit = self.settings.attempts
        record, changed = self.store.update(job_id, lambda r: still(r) and (
            {"state": "queued", "ticket": ticket, "runner": None, "seconds_left": None} if r["attempts"] < limit else
            {"state": "failed", "runner": None, "seconds_left": None, "finished": time.time(),
             "error": f"The video was started {r['attempts']} time{'s' if r['attempts'] != 1 else ''} and each "
                      f"time the process colorizing it stopped answering before the end, without handing it back "
                      f"(it was killed, crashed, or its machine was lost); it was not started again."}))
        self._beats.pop(job_id, None)
        self._missing.pop(job_id, None)
        if not changed:
            return
        if record["state"] == "queued":
            log.warning("video job %s: %s; queued again (attempt %d of %d next)", job_id, why,
                        record["attempts"] + 1, limit)
            self.task(job_id, ticket)
        else:
            log.warning("video job %s: %s, %d times; failed", job_id, why, record["attempts"])
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
