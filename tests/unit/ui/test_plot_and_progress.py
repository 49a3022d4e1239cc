"""The text loss plot and the progress/status text: pure functions, checked directly and with hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aitelier.providers.base import Job, JobEvent, JobStatus, LossPoint
from aitelier.training import progress_of
from aitelier.ui.jobs import bar, duration, progress_line, progress_text, runs_table, settings_text
from aitelier.ui.plot import line_plot, loss_plot


def test_loss_plot_draws_both_curves_with_axes_and_legend():
    lines = loss_plot(
        [LossPoint(1, 2.0), LossPoint(5, 1.5, 1.8), LossPoint(10, 1.0, 1.4)], width=30, height=8
    )
    assert len(lines) == 8 + 3
    assert lines[0].lstrip().startswith("2 |") and lines[7].lstrip().startswith("1 |")  # max on top
    assert lines[0].split("|")[1][0] == "*"  # the first training point, top left
    assert lines[-3].strip().startswith("+---")
    assert lines[-2].split() == ["1", "step", "10"]
    assert lines[-1].strip() == "* training loss   o validation loss"
    assert any("o" in ln for ln in lines[:8])


def test_nothing_to_plot():
    assert loss_plot([]) == []
    assert loss_plot([LossPoint(1)]) == []


def test_a_single_point_and_a_flat_line():
    lines = line_plot({"loss": [(3, 0.5)]}, width=20, height=5)
    assert sum(ln.count("*") for ln in lines[:5]) == 1
    flat = line_plot({"loss": [(0, 1.0), (10, 1.0)]}, width=20, height=5)
    body = flat[:5]
    assert sum(1 for ln in body if "*" in ln) == 1  # one row holds the whole flat line


points = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=1e6, allow_nan=False),
        st.floats(min_value=-1e3, max_value=1e3, allow_nan=False),
    ),
    min_size=1,
    max_size=50,
)


@given(
    train=points, val=st.one_of(st.just([]), points), width=st.integers(10, 120), height=st.integers(3, 30)
)
def test_plot_shape_is_stable(train, val, width, height):
    series = {"train": train, **({"val": val} if val else {})}
    lines = line_plot(series, width=width, height=height)
    assert len(lines) == height + 3
    pad = lines[0].index("|")
    for ln in lines[:height]:
        assert ln[pad] == "|" and len(ln) <= pad + 1 + width
    drawn = "".join(lines[:height])
    assert "*" in drawn or "#" in drawn
    if val:
        assert "o" in drawn or "#" in drawn
        assert ("#" in drawn) == lines[-1].endswith("# both")


def test_progress_text_and_bar():
    assert duration(42) == "42s" and duration(300) == "5m 00s" and duration(3725) == "1h 02m"
    assert duration(None) == "?"
    assert bar(0.5, 10) == "[#####.....]" and bar(2.0, 4) == "[####]" and bar(-1, 4) == "[....]"
    prog = {"step": 5, "totalSteps": 10, "epoch": 1, "totalEpochs": 3, "secondsRemaining": 300}
    assert progress_text(prog) == "step 5/10 (50%), epoch 1/3, ~5m 00s left"
    assert progress_line("running", prog).startswith("[############............] running: step 5/10")
    assert progress_line("queued", {"queueDepth": 4}) == "queued: 4 job(s) ahead in the queue"


def test_progress_from_events_when_the_job_does_not_say():
    job = Job("j", JobStatus.RUNNING, "running", False, total_epochs=3)
    events = [
        JobEvent("a", 1.0, "x", step=2, total_steps=12),
        JobEvent("b", 2.0, "y", step=8, total_steps=12),
    ]
    assert progress_of(job, events)["step"] == 8 and progress_of(job, events)["totalSteps"] == 12
    queued = Job("j", JobStatus.QUEUED, "queued", False, queue_depth=3)
    assert progress_of(queued, events)["step"] is None and progress_of(queued, events)["queueDepth"] == 3


def test_runs_table_and_settings():
    rows = runs_table(
        [
            {
                "id": "run-1",
                "provider": "together",
                "status": "succeeded",
                "providerStatus": "completed",
                "jobId": "ft-1",
                "baseModel": "m",
                "fineTunedModel": "user/m-ft",
                "startedAt": "2026-11-25T10:00:00.000Z",
            },
            {"id": "run-2", "provider": "openai", "status": "failed_to_start", "baseModel": "gpt"},
        ],
        {"run-2": "boom"},
    )
    assert rows[0].split() == [
        "RUN",
        "PROVIDER",
        "STATUS",
        "JOB",
        "BASE",
        "MODEL",
        "FINE-TUNED",
        "MODEL",
        "STARTED",
    ]
    assert "succeeded (completed)" in rows[1] and "2026-11-25 10:00" in rows[1]
    assert "failed_to_start [not refreshed]" in rows[2]
    assert (
        settings_text({"epochs": 3, "learningRate": 1e-05, "loraR": 16})
        == "epochs 3, learning rate 1e-05, LoRA r 16"
    )
