"""The runs folder's index is a cache: whatever happens to the folder or to the index file, the run history shows
what is on disk now — and it is fast because an unchanged run is not read again."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from synthetic_runs import write_run, write_runs

import tui.core.runs as run_index
from tui.core.atomic import atomic_write_json
from tui.core.compare import CompareError, resolve_run
from tui.core.owner import Owner
from tui.core.params import tomllib
from tui.core.rundir import RunDir
from tui.core.runs import (COLUMNS, INDEX_FILE, LARGEST_FIRST, SORT_KEYS, RunIndex, format_wall, list_runs,
                           sort_column)
from tui.core.sweep import list_sweeps


def age(*paths: Path, seconds: float = 3600) -> None:
    """Move the modification times of these directories (and everything in them) back by `seconds`, as for runs
    made earlier."""
    for path in paths:
        for p in [*path.rglob("*"), path]:
            t = p.stat().st_mtime - seconds
            os.utime(p, (t, t))


def statuses(folder: Path) -> dict[str, str]:
    return {r.name: r.status for r in list_runs(folder)}


@pytest.fixture
def folder(tmp_path):
    runs = write_runs(tmp_path, 6)
    age(*runs)
    return tmp_path


def test_an_unchanged_run_is_served_from_the_index_without_reading_it(folder, monkeypatch):
    first = list_runs(folder)
    assert (folder / INDEX_FILE).is_file()

    def no_reading(run_dir):
        raise AssertionError(f"{run_dir} was read again although it did not change")

    monkeypatch.setattr(run_index, "read_run", no_reading)
    assert list_runs(folder) == first


def test_a_run_added_removed_or_changed_since_the_last_listing_shows_as_it_is_now(folder):
    before = statuses(folder)
    assert len(before) == 6
    added = write_run(folder, "20990101-000000-added", status="interrupted")
    (removed, changed) = sorted(before)[:2]
    import shutil

    shutil.rmtree(folder / removed)
    # the changed run now ends: its summary is written (through a rename, as training writes it)
    atomic_write_json(folder / changed / "summary.json", {"status": "failed", "epochs_run": 7, "wall_seconds": 65,
                                                          "best": {"val_accuracy": 0.5}})
    records = {r.name: r for r in list_runs(folder)}
    assert added.name in records and records[added.name].status == "interrupted"
    assert removed not in records
    assert (records[changed].status, records[changed].epochs, records[changed].best_val_accuracy) == ("failed", 7, 0.5)
    assert list_runs(folder)[0].name == added.name  # newest first
    # filtered and sorted on the index's entries: the same, as it is now
    shutil.rmtree(folder / added.name)
    failed = RunIndex(folder).query("failed", sort_column("best"))
    assert changed in [r.name for r in failed.records] and removed not in [r.name for r in failed.records]
    assert next(r for r in failed.records if r.name == changed).best_val_accuracy == 0.5
    assert added.name not in [r.name for r in RunIndex(folder).query("", sort_column("run")).records]


def test_a_run_replaced_by_a_copied_folder_of_the_same_name_is_read_again(folder, tmp_path_factory):
    name = sorted(statuses(folder))[0]
    elsewhere = tmp_path_factory.mktemp("other")
    copy = write_run(elsewhere, name, dataset="cifar10", architecture="resnet", status="stopped")
    age(copy)  # cp -a keeps the old times: only the directory's identity tells the copy apart
    import shutil

    shutil.rmtree(folder / name)
    shutil.copytree(copy, folder / name, copy_function=shutil.copy2)
    age(folder / name)
    record = next(r for r in list_runs(folder) if r.name == name)
    assert (record.dataset, record.architecture, record.status) == ("cifar10", "resnet", "stopped")


def test_a_live_run_is_read_every_time_even_when_only_its_history_grows(folder):
    run = write_run(folder, "20990101-000000-live", status="no summary", epochs=2)
    RunDir(run).mark_running()  # this process plays the trainer
    age(run)
    assert next(r for r in list_runs(folder) if r.name == run.name).status == "running"
    with open(run / "history.csv", "a") as fh:  # Keras' CSVLogger appends a row: the directory does not change
        fh.write("2,0.9,1.0,0.9,1.0,0.001,1.0\n")
    age(run)
    live = next(r for r in list_runs(folder) if r.name == run.name)
    assert (live.status, live.epochs) == ("running", 3)
    RunDir(run).write_owner(replace(Owner.of(), pid=999999999, start_ticks=1))  # the trainer was killed
    assert next(r for r in list_runs(folder) if r.name == run.name).status == "unknown"


@pytest.mark.parametrize("damage", [b"", b"{not json", b"[1, 2]", b'{"version": 999, "runs": {}, "dirs": {}}',
                                    b"\x00\xff" * 100, "truncated", "an older version's index"])
def test_a_deleted_or_corrupt_index_is_rebuilt_silently(folder, damage):
    expected = list_runs(folder)
    index = folder / INDEX_FILE
    if damage == "truncated":
        index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    elif damage == "an older version's index":  # one JSON object (version 3): its entries have other fields
        data = RunIndex(folder).load()
        index.write_text(json.dumps({"version": 3, "runs": data["runs"], "dirs": {}}))
    else:
        index.write_bytes(damage)
    assert list_runs(folder) == expected
    assert len(RunIndex(folder).load()["runs"]) == 6  # written again, whole
    index.unlink()
    assert list_runs(folder) == expected and index.is_file()


@pytest.mark.parametrize("field, value", [(run_index.STARTED, "yesterday"), (run_index.SIG, None),
                                          (run_index.STATUS, None), (run_index.EPOCHS, []), (run_index.BEST, "x"),
                                          (run_index.STARTED, 1e30), (run_index.TEXT, 5)])
def test_a_damaged_entry_in_a_valid_index_is_read_again(folder, field, value):
    expected = list_runs(folder)
    index = RunIndex(folder)
    data = index.load()
    for entry in data["runs"].values():
        entry[field] = value
    data["dirs"][next(iter(data["runs"]))] = {"kind": 3}
    index.write(data)
    assert list_runs(folder) == expected


def test_an_index_entry_that_lies_is_not_believed(folder):
    """A hand-edited or foreign index with the right signature but a wrong status: only the signature is trusted,
    and the signature is the directory's, so an entry for a directory that changed is read again."""
    list_runs(folder)
    index = RunIndex(folder)
    data = index.load()
    name = sorted(data["runs"])[0]
    data["runs"][name][run_index.SIG][1] -= 1  # recorded for an older state of the directory
    data["runs"][name][run_index.STATUS] = "bogus"
    index.write(data)
    assert statuses(folder)[name] != "bogus"


CONCURRENT = """
import sys
from dataclasses import replace
from pathlib import Path
from synthetic_runs import write_run
from tui.core.runs import RunIndex
folder, who = Path(sys.argv[1]), sys.argv[2]
for i in range(25):
    write_run(folder, f"20990101-0000{i:02d}-{who}")
    RunIndex(folder).scan()
"""


def test_two_processes_updating_the_index_at_once_neither_corrupt_it_nor_lose_entries(folder):
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(folder), who], env=env) for who in "ab"]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    # the run directories (the index keeps a hidden folder of its own)
    on_disk = {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert len(on_disk) == 56
    # read the file as the processes left it: every run either one indexed is in it (no update was lost)
    assert set(RunIndex(folder).load()["runs"]) == on_disk
    assert not list(folder.glob(f"{INDEX_FILE}.*")), "a temporary file was left behind"
    assert {r.name for r in list_runs(folder)} == on_disk


def test_saves_under_the_lock_merge_rather_than_overwrite(folder):
    list_runs(folder)
    a, b = RunIndex(folder), RunIndex(folder)
    entry = next(iter(a.load()["runs"].values()))
    a.save({"x": entry}, {})
    b.save({"y": entry}, {})
    assert {"x", "y"} <= set(a.load()["runs"])


def test_sweep_cells_are_listed_and_a_cell_added_later_shows(folder):
    sweep = folder / "20990101-000000-sweep"
    sweep.mkdir()
    atomic_write_json(sweep / "sweep.json", {"version": 1, "cells": []})
    write_run(sweep, "cell-0")
    age(sweep)
    assert "cell-0" in statuses(folder)
    assert list_sweeps(folder) == [sweep]
    write_run(sweep, "cell-1", status="failed")
    assert statuses(folder)["cell-1"] == "failed"


def test_a_sweep_with_a_config_of_its_own_is_listed_with_its_cells_every_time(folder):
    sweep = write_run(folder, "20990101-000000-sweep")  # a config.toml of its own, and a summary
    atomic_write_json(sweep / "sweep.json", {"version": 1, "cells": []})
    write_run(sweep, "cell-0")
    age(sweep)
    for _ in range(3):  # read, then from the index
        assert {sweep.name, "cell-0"} <= set(statuses(folder)) and list_sweeps(folder) == [sweep]


def test_listing_an_unchanged_folder_does_not_rewrite_the_index(folder):
    sweep = folder / "20990101-000000-sweep"
    sweep.mkdir()
    atomic_write_json(sweep / "sweep.json", {"version": 1, "cells": []})
    write_run(sweep, "cell-0")
    age(folder)
    list_runs(folder)
    written = (folder / INDEX_FILE).stat().st_mtime_ns
    assert len(list_runs(folder)) == 7
    assert (folder / INDEX_FILE).stat().st_mtime_ns == written


def test_a_listing_of_the_newest_few_reads_only_those(folder, monkeypatch):
    import os

    newest = [r.name for r in list_runs(folder)][:2]
    reads = []
    real = os.stat

    def looked_at(path, *args, **kwargs):  # a run directory's own stat, by its path or from the open folder
        if os.path.basename(os.fspath(path))[:2] in ("19", "20"):
            reads.append(os.path.basename(os.fspath(path)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", looked_at)
    listing = RunIndex(folder).scan(limit=2)
    assert [r.name for r in listing.records] == newest and listing.total == 6
    assert set(reads) == set(newest)
    came = [write_run(folder, "19990101-000000-old-copy", started=1_000), write_run(folder, "20990101-000000-new")]
    reads.clear()  # directories that came are read, whatever their names, and shown if they are among the newest
    assert [r.name for r in RunIndex(folder).scan(limit=2).records] == [came[1].name, listing.records[0].name]
    assert set(reads) == {c.name for c in came} | set(newest)


def test_compare_finds_a_run_by_a_unique_part_of_its_name_through_the_index(folder):
    name = sorted(statuses(folder))[2]
    unique = name.rsplit("-", 1)[-1]
    assert resolve_run(unique, folder) == folder / name
    with pytest.raises(CompareError, match="matches 6 runs"):
        resolve_run("-", folder)
    with pytest.raises(CompareError, match="neither a directory nor a run"):
        resolve_run("no-such-run", folder)


@pytest.mark.parametrize("seconds, text", [(None, "–"), (2.8, "2.8 s"), (59.94, "59.9 s"), (65, "1 min 05 s"),
                                           (7620, "2 h 07 min")])
def test_wall_time_reads_the_same_everywhere(seconds, text):
    assert format_wall(seconds) == text


def test_a_listed_row_reads_as_the_run_and_a_filter_finds_any_of_its_cells(tmp_path, monkeypatch):
    from datetime import datetime

    write_run(tmp_path, "20260314-150926-pi", dataset="cifar10", status="failed", wall=125.0,
              started=datetime(2026, 3, 14, 15, 9, 26).timestamp())
    monkeypatch.setattr(run_index, "RACY_SECONDS", -1.0)  # the entry just written is trusted: listed from the index
    for rec in (list_runs(tmp_path)[0], list_runs(tmp_path)[0]):  # read, then from the index
        assert rec.row[:2] == ("20260314-150926-pi", "2026-03-14 15:09")
        assert rec.row[2] == "cifar10" and rec.row[4] == "failed" and rec.row[7] == "2 min 05 s"
        assert all(cell.lower() in rec.search_text for cell in rec.row)


def test_a_run_no_process_owns_is_checked_by_one_look_at_its_directory_and_still_shows_every_change(
        folder, monkeypatch):
    """A run that no process owns changes only through files made, renamed or removed in its directory (which
    move the directory's time): the listing looks at nothing else, and still sees each such change."""
    killed = write_run(folder, "20990101-000000-killed", status="no summary")  # before its first epoch ended
    age(killed)
    list_runs(folder)
    import os

    looked: list[str] = []
    real = os.stat

    def stat(path, *args, dir_fd=None, **kwargs):  # by its path, or from the open runs folder
        looked.append(os.path.join(folder, path) if dir_fd is not None else os.fspath(path))
        return real(path, *args, dir_fd=dir_fd, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    records = {r.name: r for r in list_runs(folder)}
    looked = [p for p in looked if p != str(folder)]  # (and the runs folder's own time)
    assert len(records) == 7 and sorted(looked) == sorted(str(folder / n) for n in records)
    assert records[killed.name].status == "unknown"
    atomic_write_json(killed / "summary.json", {"status": "stopped", "epochs_run": 2})  # its summary came late
    assert statuses(folder)[killed.name] == "stopped"
    run = folder / next(n for n in records if records[n].status == "finished")
    atomic_write_json(run / "summary.json", {"status": "failed", "epochs_run": 4, "wall_seconds": 8,
                                             "best": {"val_accuracy": 0.25}})
    rec = next(r for r in list_runs(folder) if r.name == run.name)
    assert (rec.status, rec.epochs, rec.best_val_accuracy) == ("failed", 4, 0.25)
    (run / "backup").mkdir()  # Keras' BackupAndRestore state: resumable
    atomic_write_json(run / "backup" / "training_metadata.json", {"epoch": 3})
    assert statuses(folder)[run.name] == "interrupted"
    RunDir(run).mark_running()  # resumed by this process
    assert statuses(folder)[run.name] == "running"
    RunDir(run).clear_running()
    import shutil

    shutil.rmtree(run / "backup")  # the resumed run ended
    assert statuses(folder)[run.name] == "failed"


@pytest.mark.parametrize("needle", ["", "finished", "MNIST", " min ", "no such text"])
def test_filtering_and_sorting_on_the_index_lists_what_filtering_and_sorting_the_records_would(tmp_path, needle):
    age(*write_runs(tmp_path, 40))
    records = list_runs(tmp_path)  # every run read: the index is written
    for col in range(len(COLUMNS)):
        for reverse in (False, True):
            want = [r for r in records if needle.lower() in r.search_text]
            want.sort(key=SORT_KEYS[col], reverse=(col in LARGEST_FIRST) != reverse)
            got = RunIndex(tmp_path).query(needle, col, reverse, limit=7)
            assert (got.records, got.matching, got.total) == (want[:7], len(want), 40), (COLUMNS[col], reverse)


def test_a_filtered_or_sorted_listing_reads_no_run_and_makes_records_only_of_the_rows_shown(folder, monkeypatch):
    list_runs(folder)
    made = []
    real = run_index._from_entry
    monkeypatch.setattr(run_index, "_from_entry", lambda *a: made.append(a[1]) or real(*a))
    monkeypatch.setattr(run_index, "read_run", lambda run_dir: pytest.fail(f"{run_dir} was read again"))
    listing = RunIndex(folder).query("", sort_column("best"), limit=2)
    assert len(listing.records) == 2 and listing.matching == 6 and made == [r.name for r in listing.records]


def test_an_index_written_in_another_time_zone_filters_on_the_start_time_as_shown_here(tmp_path, monkeypatch):
    import time
    from datetime import datetime, timezone

    monkeypatch.setattr(run_index, "RACY_SECONDS", -1.0)  # the entries just written are trusted
    write_run(tmp_path, "20260314-233000-tz", started=datetime(2026, 3, 14, 23, 30, tzinfo=timezone.utc).timestamp())
    before = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "UTC0"
        time.tzset()
        assert RunIndex(tmp_path).query("2026-03-14 23:30").matching == 1
        os.environ["TZ"] = "JST-9"  # the same folder, looked at from Tokyo
        time.tzset()
        assert RunIndex(tmp_path).query("2026-03-15 08:30").records[0].row[1] == "2026-03-15 08:30"
        assert RunIndex(tmp_path).query("2026-03-14 23:30").matching == 0
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.mark.parametrize("text, listed", [
    ('[dataset]\nname = "a\\"b" # escaped\n[model]\narchitecture = "x"\n', ('a"b', "x")),
    ('dataset.name = "x"\nmodel.architecture = "y"\n', ("x", "y")),
    ("[dataset]\nname = 'lit'\n[model]\narchitecture = \"y\"\n", ("lit", "y")),
    ('[ dataset ]\n  name = "x"\n[dataset.extra]\nname = "z"\n[[model.layers]]\narchitecture = "no"\n'
     '[model]\narchitecture = "y" # the real one\n', ("x", "y")),
    ('[model]\narchitecture = "y"\nnote = """\n[dataset]\nname = "inside a string"\n"""\n[dataset]\nname = "x"\n',
     ("x", "y")),
    ('[dataset]\nname = "x"\nname = "again"\n[model]\narchitecture = "y"\n', ("?", "?")),  # not TOML
    ('[dataset]\nname = "x"\n', ("?", "?")),
    ("[dataset\nname = ", ("?", "?")),
])
def test_the_listed_dataset_and_architecture_are_what_toml_says_however_the_file_is_written(tmp_path, text, listed):
    run = write_run(tmp_path, "run", dataset="cifar10", architecture="resnet")
    assert RunDir(run).listed_config() == ("cifar10", "resnet")  # as config.save writes it
    (run / "config.toml").write_text(text)
    assert RunDir(run).listed_config() == listed
    if listed != ("?", "?"):
        table = tomllib.loads(text)
        assert (table["dataset"]["name"], table["model"]["architecture"]) == listed
    assert (list_runs(tmp_path)[0].dataset, list_runs(tmp_path)[0].architecture) == listed


# -- the runs folder's own time ---------------------------------------------------------------------------------------
def settle(folder: Path) -> None:
    """List the folder, move its time back (as for a folder last changed long ago), list it again: the index now
    holds the folder's signature, and the listings that follow trust it while no directory comes or goes."""
    list_runs(folder)
    t = folder.stat().st_mtime - 3600
    os.utime(folder, (t, t))
    list_runs(folder)
    st = folder.stat()
    assert RunIndex(folder).load()["folder"] == [st.st_ino, st.st_mtime_ns]  # else this file tests nothing new


def watch_listing(monkeypatch, folder: Path) -> list[str]:
    """The folders listed from now on (os.scandir's arguments)."""
    listed: list[str] = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": listed.append(str(path)) or real(path))
    return listed


def test_an_unchanged_folder_is_not_listed_again_and_its_newest_runs_come_from_the_index_alone(folder, monkeypatch):
    settle(folder)
    expected = list_runs(folder)
    listed = watch_listing(monkeypatch, folder)
    assert list_runs(folder) == expected and str(folder) not in listed
    decoded = []
    real = run_index._entry_ok
    monkeypatch.setattr(run_index, "_entry_ok", lambda e: decoded.append(e) or real(e))
    listing = RunIndex(folder).scan(limit=2)
    assert [r.name for r in listing.records] == [r.name for r in expected[:2]] and listing.total == 6
    assert len(decoded) == 2, "the other runs' lines in the index were decoded too"
    written = (folder / INDEX_FILE).stat().st_mtime_ns
    assert RunIndex(folder).scan(limit=2).records == listing.records
    assert (folder / INDEX_FILE).stat().st_mtime_ns == written  # nothing changed: nothing written


def test_a_run_changed_in_place_shows_as_it_is_now_although_the_folder_time_did_not_move(folder, monkeypatch):
    live = write_run(folder, "20990101-000000-live", status="no summary", epochs=2)
    age(live)
    settle(folder)
    folder_time = folder.stat().st_mtime_ns
    names = [r.name for r in list_runs(folder)]
    assert names[0] == live.name
    ended = folder / names[1]
    listed = watch_listing(monkeypatch, folder)
    # a summary rewritten (through a rename, as training writes it) in the second newest run
    atomic_write_json(ended / "summary.json", {"status": "failed", "epochs_run": 7, "wall_seconds": 65,
                                               "best": {"val_accuracy": 0.5}})
    RunDir(live).mark_running()  # this process plays the trainer of the newest
    newest = {r.name: r for r in RunIndex(folder).scan(limit=2).records}  # the index's first lines, validated
    assert (newest[ended.name].status, newest[ended.name].epochs, newest[ended.name].best_val_accuracy) == (
        "failed", 7, 0.5)
    assert newest[live.name].status == "running" and newest[live.name].epochs == 2
    with open(live / "history.csv", "a") as fh:  # Keras' CSVLogger appends a row: no directory time moves
        fh.write("2,0.9,1.0,0.9,1.0,0.001,1.0\n")
    assert RunIndex(folder).scan(limit=2).records[0].epochs == 3
    failed = RunIndex(folder).query("failed")  # filtered on the entries, every run validated
    assert ended.name in [r.name for r in failed.records]
    assert statuses(folder)[live.name] == "running" and statuses(folder)[ended.name] == "failed"
    assert str(folder) not in listed and folder.stat().st_mtime_ns == folder_time  # writing the index did not move it


def test_a_run_that_came_or_went_moves_the_folder_time_and_shows_at_once(folder):
    settle(folder)
    before = [r.name for r in list_runs(folder)]
    added = write_run(folder, "20990101-000000-added", status="interrupted")
    import shutil

    shutil.rmtree(folder / before[0])
    t = folder.stat().st_mtime - 7200  # whatever the folder's time now reads: it is not the one the index holds
    os.utime(folder, (t, t))
    assert [r.name for r in RunIndex(folder).scan(limit=2).records] == [added.name, before[1]]
    assert {r.name for r in list_runs(folder)} == {added.name, *before[1:]}
    settle(folder)
    sweep = folder / "20990102-000000-sweep"  # a sweep made, then a cell added to it: only the sweep's time moves
    sweep.mkdir()
    atomic_write_json(sweep / "sweep.json", {"version": 1, "cells": []})
    age(sweep)
    settle(folder)
    write_run(sweep, "cell-0", status="failed")
    assert [r.name for r in RunIndex(folder).scan(limit=1).records] == ["cell-0"]
    assert statuses(folder)["cell-0"] == "failed"


def test_a_run_that_loses_its_config_and_gets_it_back_shows_again_in_an_unchanged_folder(folder):
    settle(folder)
    run = folder / sorted(statuses(folder))[0]
    config = (run / "config.toml").read_bytes()
    (run / "config.toml").unlink()
    assert run.name not in statuses(folder)
    (run / "config.toml").write_bytes(config)
    assert run.name in statuses(folder)


def test_an_index_of_an_older_version_is_replaced_and_its_file_removed(folder):
    old = folder / ".cnn-tui-index.json"
    old.write_text(json.dumps({"version": 3, "runs": {}, "dirs": {}}))
    assert len(list_runs(folder)) == 6
    assert not old.exists() and (folder / INDEX_FILE).is_file()


def test_runs_started_in_the_same_second_are_listed_in_the_order_of_their_names_however_they_are_read(tmp_path):
    # a sweep starts several cells within a second: the history's order (and where its cursor lands) must not
    # depend on whether the runs came from the index, a first reading, or its first batch
    same = 1_780_000_000.0
    for name in ("20260101-120000-b", "20260101-120000-c", "20260101-120000-a"):
        write_run(tmp_path, name, started=same)
    age(*[p for p in tmp_path.iterdir() if p.is_dir()])
    newest_first = ["20260101-120000-c", "20260101-120000-b", "20260101-120000-a"]

    assert [r.name for r in list_runs(tmp_path)] == newest_first  # read anew
    assert [r.name for r in list_runs(tmp_path)] == newest_first  # from the index
    assert [r.name for r in RunIndex(tmp_path).query("", 1, False, limit=2).records] == newest_first[:2]
    assert [r.name for r in RunIndex(tmp_path).query("", 1, True).records] == newest_first[::-1]
    batches: list[list[str]] = []
    RunIndex(tmp_path).scan(lambda b: batches.append([r.name for r in b.records]), first=2)
    assert batches and batches[0] == newest_first[:len(batches[0])]
