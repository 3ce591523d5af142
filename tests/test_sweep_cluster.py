"""Sweeps on Dask distributed: a real `dask scheduler` and two `dask worker` processes on 127.0.0.1 (one killed in
the middle of a cell; a stop that cancels the cells not begun), the scheduler going away, a worker whose Python has no
TensorFlow, and the address/certificate checks a person meets first.

Every process listens on 127.0.0.1. The scheduler and two workers that several tests share are started once for the
module and stopped by it (a test that kills a worker gets a new one in its place for the next test); so is the TLS
scheduler + worker that the TLS test and then the scheduler-gone test use (a new one if its scheduler is dead). The
worker without TensorFlow is started and killed by its own test."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tui.core import cluster
from tui.core import config as cfg
from tui.core.params import ConfigError
from tui.core.rundir import SweepDir
from tui.core.runs import list_runs
from tui.core.sweep import SweepRunner, make_spec

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TINY = {"dataset.name": "digits", "model.architecture": "simple_cnn", "model.dense_units": 8,
        "training.batch_size": 50}
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1",
       "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def listening_outside_loopback(procs) -> list:
    """Addresses that these processes (and their children) listen on beyond 127.0.0.1."""
    import psutil

    found = []
    for proc in procs:
        try:
            p = psutil.Process(proc.pid)
            for q in [p, *p.children(recursive=True)]:
                found += [c.laddr for c in q.net_connections(kind="inet")
                          if c.status == psutil.CONN_LISTEN and c.laddr.ip not in ("127.0.0.1", "::1")]
        except psutil.NoSuchProcess:
            pass
    return found


class LoopbackCluster:
    """`dask scheduler` + `dask worker` processes on 127.0.0.1 (no dashboard, no nanny: a killed worker stays dead
    until `revive` starts another in its place). `worker_env` is added to the workers' environment only."""

    def __init__(self, tmp: Path, workers: int, tls: dict[str, list[str]] | None = None, security=None,
                 worker_env: dict[str, str] | None = None, name: str = "w") -> None:
        self.procs: list[subprocess.Popen] = []
        self.tls = tls or {"scheduler": [], "worker": []}
        self.client_security = security
        self.tmp, self.name, self.worker_env = tmp, name, worker_env or {}
        self.started = 0
        self.client = None
        try:
            self._start_all(tmp, workers)
        except BaseException:
            self.close()
            raise

    def _start_all(self, tmp: Path, workers: int) -> None:
        file = tmp / "scheduler.json"
        self.scheduler = self._start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard", "--dashboard-address", "127.0.0.1:0",  # its HTTP routes
                                      "--scheduler-file", str(file), *self.tls["scheduler"]], tmp / "scheduler.log")
        self.address = _wait_for(lambda: file.is_file() and json.loads(file.read_text() or "{}").get("address"),
                                 60, "the scheduler's address")
        assert self.address.startswith(("tcp://127.0.0.1:", "tls://127.0.0.1:"))
        self.workers = [self._start_worker() for _ in range(workers)]
        from distributed import Client

        self.client = Client(self.address, set_as_default=False, timeout="30s", security=self.client_security)
        self._wait_ready()
        assert listening_outside_loopback(self.procs) == []

    def _start_worker(self) -> subprocess.Popen:
        name = f"{self.name}{self.started}"
        self.started += 1
        proc = self._start([str(BIN / "dask"), "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                            "--no-nanny", "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--name", name,
                            *self.tls["worker"]], self.tmp / f"{name}.log", self.worker_env)
        proc.dask_name = name
        return proc

    def _start(self, argv: list[str], log: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env={**ENV, **(extra_env or {})}, cwd=log.parent, stdout=log.open("w"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def _wait_ready(self) -> None:
        """Until the scheduler has exactly the workers that are alive (a killed one gone, new ones joined)."""
        def names() -> list[str]:
            return self.client.run_on_scheduler(lambda dask_scheduler: [str(w.name) for w in
                                                                        dask_scheduler.workers.values()])

        expected = sorted(w.dask_name for w in self.workers)
        _wait_for(lambda: sorted(names()) == expected, 90, f"the workers {expected}")

    def revive(self) -> None:
        """A worker that an earlier test killed is replaced by a new one (the scheduler stays)."""
        dead = [i for i, w in enumerate(self.workers) if w.poll() is not None]
        for i in dead:
            self.workers[i] = self._start_worker()
        if dead:
            self._wait_ready()
            assert listening_outside_loopback(self.procs) == []

    def executed(self) -> int:
        """How many tasks (cells) the workers alive now have executed in their lifetime."""
        return sum(self.client.run(lambda dask_worker: dask_worker.state.executed_count).values())

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close(timeout=10)
            except Exception:  # its scheduler was killed by the test
                pass
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    """One scheduler and two workers for the tests of this module that leave the scheduler up (each worker imports
    TensorFlow once, not once a test); the module stops them."""
    started = LoopbackCluster(tmp_path_factory.mktemp("cluster"), workers=2)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def loopback_cluster(shared_cluster):
    shared_cluster.revive()  # two live workers, whatever the test before did to them
    return shared_cluster


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_cell_makes_that_cell_run_again_elsewhere(loopback_cluster, tmp_path):
    spec = make_spec(cfg.ExperimentConfig().with_values(TINY), [("model.conv_filters", "2,3,4")], epochs=2,
                     train_size=200)
    runs = tmp_path / "runs"
    runner = SweepRunner.create(spec, runs, scheduler=loopback_cluster.address)
    run_dirs_seen: dict[tuple[int, ...], set[str]] = {}
    killed: list[int] = []
    statuses: dict[tuple[int, ...], list[str]] = {}

    def kill_a_busy_worker(event):
        for c in event.state.cells:
            if statuses.setdefault(c.index, ["pending"])[-1] != c.status:
                statuses[c.index].append(c.status)
            if c.status == "running" and c.run_dir:
                run_dirs_seen.setdefault(c.index, set()).add(c.run_dir)
        running = [c for c in event.state.cells if c.status == "running"]
        if not killed and len(running) == 2 and any(c.epoch >= 1 for c in running):
            victim = loopback_cluster.workers[0]  # both workers hold a cell: this one dies in the middle of it
            victim.send_signal(signal.SIGKILL)
            killed.append(victim.pid)

    runner.subscribe(kill_a_busy_worker)
    state = runner.run()

    assert killed, "no moment with two cells running was seen"
    assert [c.status for c in state.cells] == ["finished"] * 3
    assert state.status == "finished" and state.done == 3
    rerun = [i for i, dirs in run_dirs_seen.items() if len(dirs) == 2]
    assert len(rerun) == 1  # the killed worker's cell started a second time, on the other worker
    # while it waited for the other worker, the heatmap showed it as not running
    assert statuses[rerun[0]] == ["pending", "running", "pending", "running", "finished"]
    # and no other cell was said to have lost its worker (both workers stay alive until the kill)
    assert all(seen == ["pending", "running", "finished"] for index, seen in statuses.items() if index != rerun[0])
    sweep_dir = state.sweep_dir
    cell_dirs = sorted(d.name for d in sweep_dir.iterdir() if d.is_dir())
    assert cell_dirs == sorted(c.run_dir for c in state.cells)  # the killed attempt's partial directory is gone
    assert all((sweep_dir / c.run_dir / "summary.json").is_file() for c in state.cells)
    assert {r.name for r in list_runs(runs)} == set(cell_dirs)  # each cell once in the run history
    recorded = SweepDir(sweep_dir).read_state()
    assert [c["status"] for c in recorded["cells"]] == ["finished"] * 3
    assert f"Dask scheduler {loopback_cluster.address}" in recorded["placement"]
    assert "3 written directly (shared runs folder)" in recorded["placement"]
    assert "Ran on: Dask scheduler" in (sweep_dir / "results.md").read_text()


def test_scheduler_addresses_are_checked_and_an_open_one_on_another_host_is_warned_about(tmp_path):
    assert cluster.check_address("127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    assert cluster.address_warning("tcp://127.0.0.1:8786") is None
    assert cluster.address_warning("tcp://localhost:8786") is None
    warning = cluster.address_warning("tcp://10.1.2.3:8786")
    assert warning and "unencrypted" in warning and "tls://" in warning
    assert cluster.address_warning("tls://10.1.2.3:8786") is None
    with pytest.raises(ConfigError, match="expected tcp://HOST:8786 or tls://HOST:8786"):
        cluster.check_address("http://10.1.2.3:8786")
    with pytest.raises(ConfigError, match="needs all three"):
        cluster.make_security("tls://10.1.2.3:8786", ca_file=str(tmp_path / "ca.pem"))
    with pytest.raises(ConfigError, match="does not exist"):
        cluster.make_security("tls://10.1.2.3:8786", str(tmp_path / "ca.pem"), str(tmp_path / "c.pem"),
                              str(tmp_path / "k.pem"))
    with pytest.raises(ConfigError, match="only apply to a tls://"):
        cluster.make_security("tcp://127.0.0.1:8786", str(tmp_path / "ca.pem"))


def test_cnn_tui_sweep_refuses_a_bad_scheduler_address_before_anything_runs(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tui.cli", "sweep", "--grid", "model.conv_filters=2,4",
                          "--scheduler", "ftp://host:21", "--runs-dir", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, env=ENV)
    assert out.returncode == 2 and "--scheduler: got 'ftp://host:21'" in out.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_workers_that_lack_the_dataset_fail_their_cells_with_that_message_and_the_sweep_stops(loopback_cluster,
                                                                                              tmp_path):
    missing = tmp_path / "images-only-on-the-laptop"  # an image folder the workers do not have (no download tried)
    base = cfg.ExperimentConfig().with_values({**TINY, "dataset.name": "folder", "dataset.path": str(missing)})
    spec = make_spec(base, [("model.conv_filters", "2,3,4,5,6")], epochs=1, train_size=100)
    state = SweepRunner.create(spec, tmp_path / "runs", scheduler=loopback_cluster.address).run()
    assert state.status == "stopped"
    assert "the first 2 cells failed the same way before training" in state.message
    assert f"dataset folder: {missing} does not exist" in state.message
    assert not any(c.status == "finished" for c in state.cells)
    assert sum(c.status == "failed" for c in state.cells) == 0  # set-up faults leave the cells to run on resume


def test_a_cell_a_worker_cannot_even_load_fails_with_the_workers_message_and_the_fix():
    result = SweepRunner._task_error(ModuleNotFoundError("No module named 'tui'"))
    assert result["status"] == "failed" and result["epochs"] == 0
    assert result["error"].startswith("a Dask worker could not load the cell: ModuleNotFoundError: No module named "
                                      "'tui'; install cnn-tui (pip install -e . in the cnn-tui folder) in the Python "
                                      "environment that runs `dask worker`")
    assert SweepRunner._task_error(ValueError("bad"))["error"] == "ValueError: bad"


@pytest.mark.slow
def test_stop_cancels_the_cells_not_begun_so_that_no_worker_starts_them(loopback_cluster, tmp_path):
    spec = make_spec(cfg.ExperimentConfig().with_values(TINY), [("model.conv_filters", "2,3,4,5,6")], epochs=3,
                     train_size=200)
    runner = SweepRunner.create(spec, tmp_path / "runs", scheduler=loopback_cluster.address)
    executed_before = loopback_cluster.executed()
    begun: set[tuple[int, ...]] = set()

    def stop_once_a_cell_has_an_epoch(event):
        begun.update(c.index for c in event.state.cells if c.status == "running")
        if any(c.status == "running" and c.epoch >= 1 for c in event.state.cells):
            runner.stop()

    runner.subscribe(stop_once_a_cell_has_an_epoch)
    state = runner.run()

    assert state.status == "stopped"
    assert 1 <= len(begun) <= 2  # two workers, one cell each at a time
    never_begun = [c for c in state.cells if c.index not in begun]
    assert [c.status for c in never_begun] == ["pending"] * len(never_begun)  # resume runs them
    assert all(c.run_dir is None for c in never_begun)
    # the workers executed the tasks of the cells that began and no other: the rest were cancelled in Dask
    assert loopback_cluster.executed() - executed_before == len(begun)
    run_dirs = sorted(d.name for d in state.sweep_dir.iterdir() if d.is_dir())
    assert run_dirs == sorted(c.run_dir for c in state.cells if c.index in begun)
    assert SweepDir(state.sweep_dir).read_state()["status"] == "stopped"


@pytest.mark.slow
def test_a_worker_that_cannot_import_tensorflow_says_so_and_the_sweep_stops_instead_of_hanging(tmp_path):
    no_tf = tmp_path / "python-without-tensorflow"  # what a worker's environment without TensorFlow imports
    no_tf.mkdir()
    (no_tf / "tensorflow.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'tensorflow'\", name='tensorflow')\n")
    started = LoopbackCluster(tmp_path, workers=1, name="box-without-tf-",
                              worker_env={"PYTHONPATH": os.pathsep.join([str(no_tf), str(ROOT)])})
    try:
        out = subprocess.run(
            [sys.executable, "-m", "tui.cli", "sweep", "--grid", "model.conv_filters=2,3,4",
             *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")], "--epochs", "1", "--train-size", "100",
             "--scheduler", started.address, "--runs-dir", str(tmp_path / "runs")],
            capture_output=True, text=True, cwd=tmp_path, env={**ENV, "COLUMNS": "200"}, timeout=240)
    finally:
        started.close()
    said = " ".join(out.stdout.split())
    assert out.returncode == 0, out.stdout + out.stderr
    assert "stopped: the first 2 cells failed the same way before training: the Dask worker box-without-tf-0 " \
           "(tcp://127.0.0.1:" in said
    assert "cannot import TensorFlow (No module named 'tensorflow'); install cnn-tui's dependencies in the Python " \
           "environment that runs `dask worker` there" in said
    assert "Sweep stopped: 0/3 cells done; continue with cnn-tui sweep --resume" in said
    (sweep_dir,) = (tmp_path / "runs").iterdir()
    recorded = SweepDir(sweep_dir).read_state()
    assert {c["status"] for c in recorded["cells"]} <= {"stopped", "pending"}  # all run again on resume
    assert not [d for d in sweep_dir.iterdir() if d.is_dir()]  # no half-made run directory


def _certificates(tmp: Path) -> dict[str, tuple[str, str]]:
    """A throw-away CA and a certificate for the scheduler, the worker and the client (openssl)."""
    def run(*argv: str) -> None:
        subprocess.run(["openssl", *argv], check=True, capture_output=True, cwd=tmp)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca", "-keyout", "ca.key",
        "-out", "ca.pem")
    out = {}
    for who in ("scheduler", "worker", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={who}", "-keyout", f"{who}.key", "-out",
            f"{who}.csr")
        run("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
            "-out", f"{who}.pem")
        out[who] = (str(tmp / f"{who}.pem"), str(tmp / f"{who}.key"))
    return out


class TlsClusters:
    """Throw-away certificates, and a TLS scheduler + one worker on 127.0.0.1 started with them; a new one when a
    test killed the last one's scheduler."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.current, self.made = tmp, None, 0
        self.certs = _certificates(tmp)
        self.ca = str(tmp / "ca.pem")
        self.security = cluster.make_security("tls://127.0.0.1:1", self.ca, *self.certs["client"])

    def flags(self, who: str) -> list[str]:
        return ["--tls-ca-file", self.ca, "--tls-cert", self.certs[who][0], "--tls-key", self.certs[who][1]]

    def alive(self) -> LoopbackCluster:
        if self.current is None or self.current.scheduler.poll() is not None:
            self.close()
            folder = self.tmp / f"cluster{self.made}"
            folder.mkdir()
            self.made += 1
            self.current = LoopbackCluster(folder, workers=1, security=self.security,
                                           tls={"scheduler": ["--protocol", "tls", *self.flags("scheduler")],
                                                "worker": self.flags("worker")})
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


@pytest.fixture(scope="module")
def tls_clusters(tmp_path_factory):
    """The TLS cluster the next two tests share (the module stops it): the second kills its scheduler."""
    clusters = TlsClusters(tmp_path_factory.mktemp("tls"))
    try:
        yield clusters
    finally:
        clusters.close()


@pytest.fixture
def tls_cluster(tls_clusters):
    return tls_clusters.alive()


@pytest.mark.slow
def test_a_sweep_runs_on_a_tls_scheduler_with_the_given_certificates(tls_cluster, tmp_path):
    started = tls_cluster
    assert started.address.startswith("tls://127.0.0.1:")
    assert cluster.address_warning(started.address) is None
    spec = make_spec(cfg.ExperimentConfig().with_values(TINY), [("model.conv_filters", "2")], epochs=1,
                     train_size=100)
    with pytest.raises(ConfigError, match="needs certificates"):  # no certificates, none in Dask's config
        cluster.make_security(started.address)
    state = SweepRunner.create(spec, tmp_path / "runs", scheduler=started.address,
                               security=started.client_security).run()
    assert [c.status for c in state.cells] == ["finished"]
    assert f"Dask scheduler {started.address}" in state.placement


@pytest.mark.slow
def test_the_scheduler_gone_stops_the_sweep_which_resume_finishes(tls_cluster, tmp_path):
    started = tls_cluster
    spec = make_spec(cfg.ExperimentConfig().with_values(TINY), [("model.conv_filters", "2,3")], epochs=2,
                     train_size=200)
    runner = SweepRunner.create(spec, tmp_path / "runs", scheduler=started.address,
                                security=started.client_security)

    def kill_the_scheduler(event):
        busy = any(c.status == "running" and c.epoch >= 1 for c in event.state.cells)
        if busy and started.scheduler.poll() is None:
            started.scheduler.kill()

    runner.subscribe(kill_the_scheduler)
    state = runner.run()
    assert state.status == "stopped"
    assert "the Dask scheduler" in state.message and "is gone" in state.message
    assert state.done < 2
    final = SweepRunner.resume(state.sweep_dir, workers=1).run()  # later, in this process
    assert [c.status for c in final.cells] == ["finished", "finished"]
    assert sorted(d.name for d in final.sweep_dir.iterdir() if d.is_dir()) == sorted(c.run_dir for c in final.cells)
