import io

import pytest

from training import progress as progress_module
from training.progress import Meter, Progress, duration


@pytest.mark.parametrize("seconds,text", [(4.25, "4.2 s"), (42, "42 s"), (185, "3 min 05 s"), (7620, "2 h 07 min")])
def test_durations_read_as_people_say_them(seconds, text):
    assert duration(seconds) == text


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_speaks_after_the_first_unit_then_every_so_often_and_at_the_end(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    out = io.StringIO()
    progress = Progress(total=10, unit="step", every=60, stream=out)
    clock.now += 12  # a slow first step
    progress.update()
    assert out.getvalue() == "step 1/10: 12 s a step, about 1 min 48 s left\n"
    for _ in range(3):  # 36 s more: no line, none due yet
        clock.now += 12
        progress.update()
    assert out.getvalue().count("\n") == 1
    clock.now += 30  # 66 s since the last line
    progress.update()
    assert out.getvalue().splitlines()[-1] == "step 5/10: 15.6 s a step, about 1 min 18 s left"
    progress.say("a log line")  # counts as a line: the wait starts again, and step 10's line is not repeated
    clock.now += 1
    progress.update(10)
    assert out.getvalue().splitlines()[-1] == "step 10/10: 7.9 s a step, about 0.0 s left"
    progress.say("the last log line")
    progress.update(10)
    assert out.getvalue().splitlines()[-1] == "the last log line"


def test_progress_of_a_resumed_job_measures_its_own_pace_and_fast_units_per_second(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", clock)
    out = io.StringIO()
    progress = Progress(total=1000, unit="photo", done=900, stream=out)
    clock.now += 2
    progress.update(910)
    assert out.getvalue() == "photo 910/1000: 5 photos/s, about 18 s left\n"
    Progress(total=5, unit="photo", enabled=False, stream=out).update()
    assert out.getvalue().count("\n") == 1  # other processes of a distributed run stay quiet


def test_a_meter_gives_the_means_of_its_interval_then_starts_again():
    meter = Meter()
    for value in (1.0, 2.0, 6.0):
        meter.add({"loss": value})
    meter.add({"loss": 3.0, "gp": 0.5})  # only logged on some steps: its mean is over those
    assert meter.means() == {"loss": 3.0, "gp": 0.5}
    meter.add({"loss": 10.0})
    assert meter.means() == {"loss": 10.0}
    assert meter.means() == {}
