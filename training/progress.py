"""Progress lines for long jobs (training, calibration, evaluation): how far, how fast, how long is left.

Plain lines, printed whether or not the output is a terminal (a log file, nohup, a job on a shared machine), at
most every `every` seconds: a progress bar is invisible in a log, and on 2 CPU cores a training step can take
15 s, so the first line must not wait for the first log interval.
"""
import sys
import time


def duration(seconds: float) -> str:
    """A duration for people: '8.5 s', '42 s', '3 min 05 s', '2 h 07 min'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min {int(seconds % 60):02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


class Progress:
    """Counts units of work (steps, photos) and says how many are done, the pace, and the time left.

    The pace is measured since this Progress was made, over the units done since then (a resumed run's earlier
    steps do not count). A line is printed after the first unit, then when `every` seconds have passed since the
    last line (say() counts too), and after the last unit, unless say() has just told that count.
    """

    def __init__(self, total: int, unit: str, done: int = 0, every: float = 30.0, enabled: bool = True,
                 stream=None):
        self.total, self.unit, self.every, self.enabled = total, unit, every, enabled
        self.stream = stream  # None: sys.stderr at the time of printing
        self.first = self.done = done
        self.started = time.monotonic()
        self.last_line: float | None = None  # when the last line was printed
        self.said = -1  # the count of done units at that line

    def seconds_per_unit(self) -> float:
        return (time.monotonic() - self.started) / max(1, self.done - self.first)

    def left(self) -> float:
        return (self.total - self.done) * self.seconds_per_unit()

    def pace(self) -> str:
        """'12.4 s a step' when slow, '3.2 photos/s' when fast, 'about 2 h 07 min left'."""
        seconds = self.seconds_per_unit()
        rate = f"{seconds:.3g} s a {self.unit}" if seconds >= 1 else f"{1 / max(seconds, 1e-9):.3g} {self.unit}s/s"
        return f"{rate}, about {duration(self.left())} left"

    def advance(self, done: int | None = None) -> None:
        """done units so far (default: one more), without printing."""
        self.done = self.done + 1 if done is None else done

    def update(self, done: int | None = None) -> None:
        """done units so far (default: one more); prints a line when one is due."""
        self.advance(done)
        if self.said == self.done:
            return  # say() has just told this count
        if self.last_line is None or time.monotonic() - self.last_line >= self.every or self.done >= self.total:
            self.say(f"{self.unit} {self.done}/{self.total}: {self.pace()}")

    def say(self, text: str) -> None:
        """Prints a line (when enabled) and starts the wait for the next one."""
        self.last_line, self.said = time.monotonic(), self.done
        if self.enabled:
            print(text, file=self.stream or sys.stderr, flush=True)


class Meter:
    """Means of logged values over an interval. One step's loss is noise, the mean of the interval is the trend.

    A value logged only on some steps (the critic's, after the warm-up) is averaged over the steps that logged it.
    """

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, logs: dict) -> None:
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
            self.counts[key] = self.counts.get(key, 0) + 1

    def means(self) -> dict:
        """The means since the last call, then starts a new interval."""
        means = {key: total / self.counts[key] for key, total in self.sums.items()}
        self.sums, self.counts = {}, {}
        return means
