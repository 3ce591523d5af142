"""The event log is a versioned contract: what a viewer reads back is what the session's listeners received."""

import json

from tui.core import config as cfg
from tui.core.eventlog import SCHEMA_VERSION, EventLogWriter, read_all, read_events, read_from
from tui.core.events import BatchEnd, Diagnosis, EpochEnd, Prepare, RunEnded, RunStarted, StateChanged
from tui.core.rundir import RunDir
from tui.core.session import TrainingSession

TINY = {"dataset.name": "digits", "dataset.train_size": 200, "model.architecture": "mlp", "model.hidden_units": [8],
        "training.epochs": 2, "training.batch_size": 16, "training.gradient_every": 4}


def test_a_viewer_reading_the_log_sees_the_events_the_session_emitted(tmp_path):
    seen = []
    session = TrainingSession(cfg.ExperimentConfig().with_values(TINY), runs_dir=tmp_path,
                              listeners=[seen.append], batch_interval=0.0)
    assert session.run().status == "finished"
    log = RunDir(session.run_dir).events_file
    first = json.loads(log.read_text().splitlines()[0])
    assert first["event"] == "EventLog" and first["version"] == SCHEMA_VERSION
    replayed = read_events(log)
    emitted = [e for e in seen if not isinstance(e, Prepare)]  # progress of the moment is not recorded
    assert [type(e) for e in replayed] == [type(e) for e in emitted]
    for kind in (EpochEnd, BatchEnd, Diagnosis):
        assert [e for e in replayed if isinstance(e, kind)] == [e for e in emitted if isinstance(e, kind)]
    started = next(e for e in replayed if isinstance(e, RunStarted))
    assert started.config == session.config and started.model.total_params > 0
    assert replayed[-1].status == "finished"


def test_unknown_fields_and_types_from_a_newer_writer_are_ignored(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"event": "EventLog", "version": 99}\n'
                   '{"event": "StateChanged", "time": 1.0, "state": "paused", "why": "a future field"}\n'
                   '{"event": "SomethingNew", "time": 2.0, "x": 1}\n')
    assert read_events(log) == [StateChanged("paused")]
    assert [r.kind for r in read_all(log)] == ["StateChanged", "SomethingNew"]


def test_a_log_written_before_the_header_existed_still_reads(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"event": "RunStarted", "time": 1.0, "run_dir": "r", "epochs": 2, "steps_per_epoch": 3, '
                   '"dataset": {}, "params": 10}\n'
                   '{"event": "EpochEnd", "time": 2.0, "epoch": 1, "epochs": 2, "logs": {"loss": 1.0}, "lr": 0.01, '
                   '"seconds": 1.5, "samples_per_second": 100.0, "partial": false}\n'
                   '{"event": "RunEnded", "time": 3.0, "status": "stopped", "error": null, "run_dir": "r", '
                   '"summary": {}}\n')
    records = read_all(log)
    assert {r.version for r in records} == {0} and records[0].fields["params"] == 10
    assert read_events(log) == [EpochEnd(1, 2, {"loss": 1.0}, 0.01, 1.5, 100.0),
                                RunEnded("stopped", None, "r", {})]


def test_a_torn_last_line_is_skipped_and_picked_up_once_complete(tmp_path):
    log = tmp_path / "events.jsonl"
    with EventLogWriter(log) as writer:
        writer.write(StateChanged("paused"))
    events, offset = read_from(log)
    assert [e.event() for e in events] == [StateChanged("paused")]
    with open(log, "a") as fh:
        fh.write('{"event": "StateChanged", "time": 5.0, "sta')  # the trainer is half-way through a line
    assert read_from(log, offset) == ([], offset)
    with open(log, "a") as fh:
        fh.write('te": "running"}\n')
    events, new_offset = read_from(log, offset)
    assert [e.event() for e in events] == [StateChanged("running")] and new_offset == log.stat().st_size


def test_a_resumed_writer_ends_a_line_torn_by_a_kill_and_appends_after_it(tmp_path):
    log = tmp_path / "events.jsonl"
    with EventLogWriter(log) as writer:
        writer.write(StateChanged("paused"))
    with open(log, "a") as fh:
        fh.write('{"event": "StateCh')  # killed mid-write
    with EventLogWriter(log) as writer:
        writer.write(StateChanged("stopping"))
    assert read_events(log) == [StateChanged("paused"), StateChanged("stopping")]
    assert log.read_text().count('"EventLog"') == 1  # one header


# -- the offsets index: a replay reads a long run's epochs without scanning its batch records ---------------------
def write_epochs(writer: EventLogWriter, epochs: range, batches: int = 3) -> None:
    for e in epochs:
        for b in range(1, batches + 1):
            writer.write(BatchEnd(e, b, batches, 1.0, 0.5, 1.0, 100.0, 0.1 * b))
        writer.write(EpochEnd(e, 10, {"loss": 1.0 / e}, 0.001, 1.0, 100.0))


def replayed(log, index: bool) -> list:
    """What a viewer attaching now gets (the fast path for a backlog of more than FAST_REPLAY_BYTES)."""
    from tui.core import eventlog

    saved, eventlog.FAST_REPLAY_BYTES = eventlog.FAST_REPLAY_BYTES, 0  # take the backlog path on a small log
    try:
        if not index:
            hidden = eventlog.index_path(log).rename(log.with_name("hidden"))
        events = eventlog.EventLogFollower(log).read().events
        if not index:
            hidden.rename(eventlog.index_path(log))
        return events
    finally:
        eventlog.FAST_REPLAY_BYTES = saved


def test_the_offsets_index_lists_every_record_but_batch_progress_and_replays_as_a_scan_does(tmp_path):
    from tui.core.eventlog import index_path

    log = tmp_path / "events.jsonl"
    with EventLogWriter(log) as writer:
        write_epochs(writer, range(1, 6))
        writer.write(RunEnded("finished", None, str(tmp_path), {}))
    kinds = [line.split()[1] for line in index_path(log).read_text().splitlines()]
    assert kinds == ["EventLog"] + ["EpochEnd"] * 5 + ["RunEnded"]
    fast, scanned = replayed(log, index=True), replayed(log, index=False)
    assert fast == scanned
    assert [e.epoch for e in fast if isinstance(e, EpochEnd)] == [1, 2, 3, 4, 5]
    assert {e.epoch for e in fast if isinstance(e, BatchEnd)} == {5}  # the batch trace: the last epoch only


def test_a_kill_between_an_index_entry_and_its_record_then_a_resume_loses_and_repeats_nothing(tmp_path):
    from tui.core.eventlog import index_path

    log = tmp_path / "events.jsonl"
    with EventLogWriter(log) as writer:
        write_epochs(writer, range(1, 4))
    size = log.stat().st_size
    with open(index_path(log), "a") as fh:  # killed after indexing a record, before writing any of it
        fh.write(f"{size} StateChanged\n")
    with EventLogWriter(log) as writer:  # the resume writes the same kind of record where the lost one would be
        writer.write(StateChanged("running"))
        write_epochs(writer, range(4, 7))
    fast = replayed(log, index=True)
    assert [e.epoch for e in fast if isinstance(e, EpochEnd)] == [1, 2, 3, 4, 5, 6]
    assert fast.count(StateChanged("running")) == 1
    assert fast == replayed(log, index=False)
    with open(index_path(log), "a") as fh:  # killed half-way through a record this time
        fh.write(f"{log.stat().st_size} EpochEnd\n")
    with open(log, "a") as fh:
        fh.write('{"event": "EpochEnd", "time": 1.0, "ep')
    with EventLogWriter(log) as writer:
        write_epochs(writer, range(7, 9))
    fast = replayed(log, index=True)
    assert [e.epoch for e in fast if isinstance(e, EpochEnd)] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert fast == replayed(log, index=False)


def test_a_log_an_older_version_began_gets_no_partial_index_when_resumed(tmp_path):
    from tui.core.eventlog import index_path

    log = tmp_path / "events.jsonl"
    with EventLogWriter(log) as writer:
        write_epochs(writer, range(1, 3))
    index_path(log).unlink()  # as an older version left it
    with EventLogWriter(log) as writer:
        write_epochs(writer, range(3, 5))
    assert not index_path(log).exists()
    assert [e.epoch for e in replayed(log, index=True) if isinstance(e, EpochEnd)] == [1, 2, 3, 4]
