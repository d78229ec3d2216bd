"""Issue 19: no silent wrong result. The eleven cases a new user hit, each as the user meets it (the
``isocl`` command, in-process unless a real signal or process is the point), with its outcome: exit 2
and one line with nothing written (bad input), exit 1 and one line (every unit failed), 130 / 143 and
one line (interrupted), exit 0 (valid). On synthetic data: seconds each."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

import isocl.bench.runner as runner
from isocl.bench import registry
from isocl.bench.config import load_benchmark
from isocl.bench.data import DataError
from isocl.bench.results import LOCK, lock_holder, lock_output_folder
from isocl.bench.scenarios import synthetic_tensors

from _badinput import REPO, call, manifest, one_line_error, snapshot, tiny_raw, write_bench

DATA = (10, 10, 1)  # synthetic_tensors arguments (also in the subprocesses below)


@pytest.fixture
def synthetic(monkeypatch):
    data = synthetic_tensors(*DATA)
    monkeypatch.setattr(runner, "load_cifar10", lambda: data)
    return data


@pytest.fixture
def isolated_registry(monkeypatch):
    registry.discover()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_LOADED", set(registry._LOADED))
    monkeypatch.delenv("ISOCL_STRATEGY_PATH", raising=False)


def run_argv(bench, out, *extra):
    return ["run", str(bench), "--out", str(out), "--quiet", "--no-plot", *extra]


def refused(tmp_path, argv, says, command="run"):
    """``isocl ARGV`` exits 2 with one line holding ``says`` and changes nothing under tmp_path."""
    before = snapshot(tmp_path)
    code, _, err = call(argv)
    assert code == 2, err
    line = one_line_error(err, command)
    assert says in line, line
    assert snapshot(tmp_path) == before
    return line


# -- 1. one writer per folder --------------------------------------------------------------------------------

HOLD = """
import sys, time
from isocl.bench.results import lock_output_folder
lock = lock_output_folder(sys.argv[1], ["isocl", "run", "smoke", "--epochs", "2"])
print("locked", flush=True)
time.sleep(120)
"""


def _holder_process(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_writer_is_refused_naming_the_holder_and_a_stale_lock_is_taken_over(tmp_path, synthetic):
    bench = write_bench(tmp_path)
    out = tmp_path / "out"
    assert call(run_argv(bench, out, "--strategies", "naive"))[0] == 0
    proc = _holder_process(out)  # another isocl run writing into the folder now
    try:
        line = refused(tmp_path, run_argv(bench, out, "--strategies", "naive,replay"),
                       f"process {proc.pid} (isocl run smoke --epochs 2) is writing into this folder")
        assert "wait for it to finish, or choose another --out" in line
        # a new folder the other process holds is refused as well, before anything is written
        assert lock_holder(out) == f"process {proc.pid} (isocl run smoke --epochs 2)"
    finally:
        proc.kill()  # SIGKILL: its lock file stays, naming a process that no longer runs
        proc.wait()
    assert (out / LOCK).is_file() and lock_holder(out) is None
    code, _, err = call(run_argv(bench, out, "--strategies", "naive,replay"))
    assert code == 0, err
    assert f"was left by process {proc.pid}, which no longer holds it (killed?); taking it over" in err
    assert not (out / LOCK).exists()  # released at the end
    assert sorted(p.name for p in (out / "units").iterdir()) == ["naive-seed0.json", "replay-seed0.json"]


def test_two_runs_at_once_one_writes_the_other_is_refused(tmp_path, synthetic):
    """The issue's race: the second command (another epochs) finds the folder locked, not mixed."""
    bench = write_bench(tmp_path)
    out = tmp_path / "out"
    with lock_output_folder(out, ["isocl", "run", "first"]):
        line = refused(tmp_path, run_argv(bench, out, "--epochs", "2"), "is writing into this folder")
        assert f"process {os.getpid()} (isocl run first)" in line
    assert not out.exists() or not any(out.iterdir())  # the lock file went with its holder


def test_the_lock_file_does_not_make_a_folder_an_isocl_folder(tmp_path):
    from isocl.bench.results import folder_kind

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / LOCK).write_text('{"pid": 1}')
    assert folder_kind(tmp_path / "d") == ""  # empty: a left lock is not content


# -- 2. Ray: validated first, connected with a timeout ------------------------------------------------------------

def test_ray_connects_only_after_validation_and_an_unreachable_address_is_one_line(tmp_path, synthetic, monkeypatch):
    pytest.importorskip("ray")
    import isocl.bench.ray_executor as rx

    bench = write_bench(tmp_path)
    started = []
    real = rx.RayExecutor

    def spy(*args, **kwargs):
        started.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(rx, "RayExecutor", spy)
    refused(tmp_path, run_argv(bench, tmp_path / "o", "--executor", "ray", "--strategies", "naive,nope"),
            "unknown strategy 'nope'")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine\n")
    refused(tmp_path, run_argv(bench, tmp_path / "mine", "--executor", "ray"), "was not written by isocl")
    assert started == []  # Ray was never started for bad input
    t0 = time.monotonic()
    line = refused(tmp_path, run_argv(bench, tmp_path / "o", "--executor", "ray", "--address", "127.0.0.1:1"),
                   "--address 127.0.0.1:1: no Ray cluster answers there")
    assert "Connection refused" in line and time.monotonic() - t0 < 60  # not Ray's minutes of retries
    assert len(started) == 1


def test_the_ray_executor_is_made_after_validation_used_and_shut_down(tmp_path, synthetic, monkeypatch):
    """The CLI's path with a working cluster (a stand-in executor: starting Ray is test_ray's business)."""
    import isocl.bench.ray_executor as rx
    from isocl.bench.executors import InlineExecutor

    events = []

    class FakeRay(InlineExecutor):
        task_cpus, task_gpus, dashboard_url, capacity = 1, 0, None, 3

        def __init__(self, address, **kwargs):
            events.append(("start", address))

        def shutdown(self, wait=True, *, cancel_futures=False):
            events.append(("shutdown", cancel_futures))

    monkeypatch.setattr(rx, "RayExecutor", FakeRay)
    monkeypatch.setattr(runner, "worker_data", lambda: synthetic)  # a Ray worker's own data (here: this process)
    out = tmp_path / "o"
    code, _, err = call(run_argv(write_bench(tmp_path), out, "--executor", "ray"))
    assert code == 0, err
    assert "units as Ray tasks on a local Ray instance, 3 at a time, 1 CPU(s) each" in err
    assert events == [("start", None), ("shutdown", True)]
    assert manifest(out)["jobs"] == 3 and len(list((out / "units").iterdir())) == 2


def test_check_address_probes_host_and_port(monkeypatch):
    from isocl.bench.config import ConfigError
    from isocl.bench.ray_executor import _host_port, check_address

    assert _host_port("ray://head:10001") == ("head", 10001)
    assert _host_port("10.0.0.1:6379") == ("10.0.0.1", 6379)
    assert _host_port("auto") is None
    with pytest.raises(ConfigError, match="port 70000 is invalid"):
        check_address("127.0.0.1:70000")
    with pytest.raises(ConfigError, match="no Ray cluster answers there"):
        check_address("ray://127.0.0.1:1", timeout=5)


# -- 3. strategy parameters and the scenario, checked before anything is written ---------------------------------

@pytest.mark.parametrize("strategy, key, value, says", [
    ("replay", "mem_size", -1, "parameter mem_size = -1 of strategy 'replay' is invalid; expected an int in [1, 50000]"),
    ("neuro-grow-prune", "prune_threshold", -0.1, "prune_threshold = -0.1 of strategy 'neuro-grow-prune' is invalid; "
                                                  "expected a finite number >= 0"),
    ("neuro-grow-prune", "grow_count", -1, "grow_count = -1 of strategy 'neuro-grow-prune' is invalid; "
                                           "expected an int in [0, 16384]"),
    ("neuro-grow-prune", "min_width", -1, "min_width = -1 of strategy 'neuro-grow-prune' is invalid; "
                                          "expected an int in [1, 16384]"),
    ("neuro-grow-prune", "out_scale", -1.0, "out_scale = -1.0 of strategy 'neuro-grow-prune' is invalid"),
    ("neuro-prune", "overabundant_start", 100000, "overabundant_start = 100000 of strategy 'neuro-prune' is invalid; "
                                                  "expected an int in [1, 16384]"),
    ("ewc", "ewc_lambda", -1.0, "ewc_lambda = -1.0 of strategy 'ewc' is invalid; expected a finite number >= 0"),
    ("ewc", "mode", "offline", "mode = 'offline' of strategy 'ewc' is invalid; expected one of 'separate', 'online'"),
    ("neuro-grow-prune", "finetune_epochs", 1, "finetune_epochs = 1 of strategy 'neuro-grow-prune' is invalid; "
                                               "expected an int in [0, 2147483647] and below training.epochs (1)"),
    ("neuro-grow-prune", "prune_criterion", "svd", "expected one of 'sv', 'sv_out'"),
])
def test_bad_strategy_parameters_exit_2_before_anything_is_written(tmp_path, synthetic, strategy, key, value, says):
    raw = tiny_raw()
    raw["strategies"] = [strategy]
    raw["strategy"] = {strategy: {key: value}}
    refused(tmp_path, run_argv(write_bench(tmp_path, raw), tmp_path / "o"), says)


def test_epochs_given_on_the_command_line_bound_the_parameters(tmp_path, synthetic):
    raw = tiny_raw()
    raw["strategies"] = ["neuro-prune"]
    raw["training"]["epochs"] = 3
    raw["strategy"] = {"neuro-prune": {"finetune_epochs": 2, "overabundant_start": 8, "min_width": 2}}
    raw["twins"] = raw["controls"] = False
    bench = write_bench(tmp_path, raw)
    refused(tmp_path, run_argv(bench, tmp_path / "o", "--epochs", "2"),
            "finetune_epochs = 2 of strategy 'neuro-prune' is invalid; expected an int in [0, 2147483647] and below "
            "training.epochs (2)")
    code, _, err = call(run_argv(bench, tmp_path / "o", "--epochs", "4"))  # the file's 3 would do as well
    assert code == 0, err


def test_a_default_the_benchmark_refuses_is_one_line_too(tmp_path, synthetic):
    """PackNet's default post_prune_epochs = 1 counts in a 1-epoch budget: refused before the run, not a failed unit."""
    raw = tiny_raw(setting="task_il")
    raw["strategies"] = ["packnet"]
    refused(tmp_path, run_argv(write_bench(tmp_path, raw), tmp_path / "o"),
            "post_prune_epochs = 1 of strategy 'packnet' is invalid; expected an int in [1, 2147483647] and below "
            "training.epochs (1)")
    raw["training"]["epochs"] = 2
    assert call(run_argv(write_bench(tmp_path, raw, "ok.toml"), tmp_path / "o"))[0] == 0


def test_an_infeasible_validation_split_is_refused(tmp_path, synthetic):
    raw = tiny_raw(train_per_class=1, validation_fraction=0.5)
    refused(tmp_path, run_argv(write_bench(tmp_path, raw), tmp_path / "o"),
            "validation_fraction = 0.5 of train_per_class = 1 leaves 0 validation and 1 training images per class; "
            "expected at least 1 of each (train_per_class >= 2, or validation_fraction = 0)")
    raw = tiny_raw(train_per_class=0, validation_fraction=0.0001)  # 0: all 5,000 per class -> 0 validation images
    refused(tmp_path, run_argv(write_bench(tmp_path, raw), tmp_path / "o"), "leaves 0 validation and 5000 training")


BROKEN_PLUGIN = '''
from isocl.bench.params import Param
from isocl.bench.registry import register_strategy


@register_strategy("broken-build", params={"k": Param(2, low=1, high=4)})
def build(ctx, k):
    raise RuntimeError("the plug-in cannot build")
'''


def _plugin(tmp_path, monkeypatch, text, name="plug.py"):
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    monkeypatch.setenv("ISOCL_STRATEGY_PATH", str(folder))


def test_every_unit_failing_exits_1_and_some_failing_says_how_many(tmp_path, synthetic, isolated_registry,
                                                                    monkeypatch):
    _plugin(tmp_path, monkeypatch, BROKEN_PLUGIN)
    bench = write_bench(tmp_path)
    out = tmp_path / "all"
    code, _, err = call(run_argv(bench, out, "--strategies", "broken-build"))
    assert code == 1
    line = one_line_error(err, "run")
    assert ("every unit failed (1 of 1; the first: RuntimeError: the plug-in cannot build); their records and "
            f"tracebacks are in {out}/units") in line
    code, _, err = call(run_argv(bench, tmp_path / "some", "--strategies", "naive,broken-build"))
    assert code == 0
    assert "isocl run: warning: 1 of 2 units failed" in err and "Traceback" not in err
    # a plug-in's declared range is checked like a shipped one's
    raw = tiny_raw()
    raw["strategies"] = ["broken-build"]
    raw["strategy"] = {"broken-build": {"k": 9}}
    refused(tmp_path, run_argv(write_bench(tmp_path, raw, "k.toml"), tmp_path / "k"),
            "parameter k = 9 of strategy 'broken-build' is invalid; expected an int in [1, 4]")


# -- 4. damaged data with workers: checked in the driver ---------------------------------------------------------

@pytest.mark.parametrize("extra", [["--jobs", "2"], ["--executor", "ray"]])
def test_damaged_data_is_refused_in_the_driver_before_any_worker_starts(tmp_path, monkeypatch, extra):
    if "ray" in extra:
        pytest.importorskip("ray")
    import isocl.bench.executors as executors
    import isocl.bench.ray_executor as rx

    def damaged():
        raise DataError("data_batch_3: not a readable pickle (UnpicklingError: pickle data was truncated)")

    monkeypatch.setattr(runner, "load_cifar10", damaged)
    monkeypatch.setattr(runner, "make_executor", lambda *a, **k: pytest.fail("a worker pool was started"))
    monkeypatch.setattr(rx, "RayExecutor", lambda *a, **k: pytest.fail("Ray was started"))
    assert executors  # (the pool factory the runner uses is patched above)
    refused(tmp_path, run_argv(write_bench(tmp_path), tmp_path / "o", *extra),
            "data_batch_3: not a readable pickle (UnpicklingError: pickle data was truncated)")


# -- 5. model files: metadata validated against a schema -------------------------------------------------------------

@pytest.fixture
def saved_model(tmp_path, synthetic):
    out = tmp_path / "res"
    code, _, err = call(run_argv(write_bench(tmp_path), out, "--strategies", "naive"))
    assert code == 0, err
    return out / "models" / "naive-seed0.safetensors"


def _rewrite(src: Path, dest: Path, change) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file, save

    with safe_open(str(src), framework="pt") as fh:
        meta = json.loads(fh.metadata()["isocl"])
    tensors = load_file(str(src))
    text = change(meta, tensors)
    dest.write_bytes(save(tensors, metadata={"isocl": text if isinstance(text, str) else json.dumps(meta)}))
    return dest


def _set(path, value):
    def change(meta, tensors):
        keys = path.split(".")
        target = meta
        for k in keys[:-1]:
            target = target[k]
        if value is KeyError:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return change


MALFORMED = [
    (_set("config", KeyError), "isocl metadata config = None is invalid; expected a table of the MLP's settings"),
    (_set("experience", -1), "isocl metadata experience = -1 is invalid; expected an int in [0, 1] "
                             "(its benchmark has 2 experiences)"),
    (_set("experience", 99), "experience = 99 is invalid; expected an int in [0, 1]"),
    (_set("config.widths", [10**9]), "config.widths = [1000000000] is invalid; expected a non-empty list of ints >= 1 "
                                     "(at most 64 layers of 16384)"),
    (_set("config.widths", [5]), "config.widths = [5] disagree with the tensors' widths [4]"),
    (_set("seed", -5), "isocl metadata seed = -5 is invalid; expected an int in [0, 2**32 - 1]"),
    (_set("benchmark.scenario.setting", "task_il"), "config.multi_head = False does not match its benchmark's "
                                                    "scenario.setting = 'task_il'"),
    (_set("strategy", "nope"), "isocl metadata strategy = 'nope': unknown strategy 'nope'"),
    (_set("benchmark.training.epochs", -1), "isocl metadata benchmark: training.epochs = -1 is invalid"),
    (_set("format", "isocl-model/9"), "format = 'isocl-model/9' is invalid; expected 'isocl-model/1'"),
    (_set("config.shape", 3), "config.shape = 3 is invalid; expected one of"),
    (_set("config.o_init", "big"), "config.o_init = 'big' is invalid; expected a number in (0, 1e6)"),
    (_set("config.extra", 1), "config.extra: unknown key"),
    (_set("multitask", {"head": {"max_class_label": "x"}}), "isocl metadata multitask = "),
    (_set("benchmark", [1]), "isocl metadata benchmark = [1] is invalid; expected a benchmark table"),
    (lambda meta, tensors: "{not json", "its isocl metadata is not JSON"),
    (lambda meta, tensors: "[1, 2]", "its isocl metadata is list, expected a JSON object"),
    (lambda meta, tensors: (tensors.pop("head.classifier.weight"), None)[1], "the head tensors [] are not those of a "
                                                                           "CIFAR-10 classifier"),
]


@pytest.mark.parametrize("change, says", MALFORMED)
def test_malformed_model_metadata_is_one_line_for_evaluate_and_export(tmp_path, saved_model, change, says):
    bad = _rewrite(saved_model, saved_model.parent / "bad.safetensors", change)
    refused(tmp_path, ["evaluate", str(bad)], says, "evaluate")
    # export reads the same file through the same checks
    refused(tmp_path, ["export", str(saved_model.parents[1]), "--unit", "bad", "--compressed"], says, "export")


def test_a_valid_model_still_evaluates_and_exports(tmp_path, saved_model, synthetic, monkeypatch):
    import isocl.bench.data

    monkeypatch.setattr(isocl.bench.data, "load_cifar10", lambda: synthetic)
    code, out, err = call(["evaluate", str(saved_model)])
    assert code == 0, err
    assert "naive seed 0" in out and "average test accuracy" in out
    code, out, err = call(["export", str(saved_model.parents[1]), "--unit", "naive-seed0", "--compressed"])
    assert code == 0, err


# -- 6. interrupts -----------------------------------------------------------------------------------------

def test_ctrl_c_is_one_line_exit_130_and_the_run_resumes(tmp_path, synthetic, monkeypatch):
    bench = write_bench(tmp_path)
    out = tmp_path / "out"
    real = runner.run_unit_job

    def second_is_interrupted(bench_, name, seed, *a, **k):
        if name == "replay":
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of training
        return real(bench_, name, seed, *a, **k)

    monkeypatch.setattr(runner, "run_unit_job", second_is_interrupted)
    code, _, err = call(run_argv(bench, out))
    assert code == 130
    assert err == "interrupted: 1 of 2 units finished; rerun the same command to resume\n"
    assert sorted(p.name for p in (out / "units").iterdir()) == ["naive-seed0.json"]  # no partial record
    assert not (out / LOCK).exists()
    monkeypatch.setattr(runner, "run_unit_job", real)
    code, _, err = call(run_argv(bench, out))
    assert code == 0, err
    assert sorted(p.name for p in (out / "units").iterdir()) == ["naive-seed0.json", "replay-seed0.json"]


SLOW_PLUGIN = '''
import time
from isocl.bench.registry import register_strategy


@register_strategy("slow")
def build(ctx):
    open(__file__ + ".started", "w").close()
    time.sleep(300)
'''

DRIVER = """
import sys
import isocl.bench.runner as runner
import isocl.bench.executors as executors
from isocl.bench.scenarios import synthetic_tensors
from isocl.cli import main

data = synthetic_tensors(*{data})
runner.load_cifar10 = lambda: data
real = executors.make_executor
runner.make_executor = lambda jobs, threads=None, _=None: real(jobs, threads, data)  # workers get the same data
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # real processes and signals, 10-30 s each: see tox -e fast
@pytest.mark.parametrize("sig, code, jobs", [(signal.SIGTERM, 143, "2"), (signal.SIGINT, 130, "2"),
                                             (signal.SIGTERM, 143, "1")])
def test_sigint_and_sigterm_stop_workers_with_one_line(tmp_path, sig, code, jobs):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "slow.py").write_text(SLOW_PLUGIN)
    bench = write_bench(tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "ISOCL_STRATEGY_PATH": str(plugins), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER.format(data=DATA), *run_argv(bench, out, "--strategies",
                            "naive,slow", "--jobs", jobs, "--threads", "1")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 240
    while not ((plugins / "slow.py.started").exists() and (out / "units" / "naive-seed0.json").exists()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    # Ctrl-C reaches the terminal's whole process group (workers too); SIGTERM the driver alone
    os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: 1 of 2 units finished; rerun the same command to resume"
    assert len([line for line in stderr.splitlines() if "interrupted" in line]) == 1
    assert sorted(p.name for p in (out / "units").iterdir()) == ["naive-seed0.json"]
    assert not (out / LOCK).exists()
    # no worker left behind: the process group empties (multiprocessing's resource tracker leaves last)
    deadline = time.monotonic() + 30
    while (alive := subprocess.run(["ps", "-o", "pid=,args=", "-g", str(proc.pid)], capture_output=True,
                                   text=True).stdout.strip()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert alive == "", alive


# -- 7. a plug-in shadowing a shipped strategy ---------------------------------------------------------------------

SHADOW = '''
from isocl.bench.registry import register_strategy


@register_strategy("replay", defaults={{"mem_size": 500}}{override})
def build(ctx, mem_size):
    return ctx.template(ctx.make_model())  # "replay" without a buffer
'''


def test_a_plugin_shadowing_a_shipped_strategy_is_refused_unless_it_overrides(tmp_path, synthetic,
                                                                               isolated_registry, monkeypatch):
    work = tmp_path / "work"
    (work / "strategies").mkdir(parents=True)
    (work / "strategies" / "replay.py").write_text(SHADOW.format(override=""))
    bench = write_bench(tmp_path)
    monkeypatch.chdir(work)
    monkeypatch.setattr(registry, "_REGISTRY", {})  # as in a new process: discovery loads the shipped ones, then ./strategies
    monkeypatch.setattr(registry, "_LOADED", set())
    refused(tmp_path, run_argv(bench, tmp_path / "o"),
            f"{work / 'strategies' / 'replay.py'}: strategy 'replay' is already a shipped strategy")
    assert registry.get_strategy("replay").shipped  # the shipped one is still the one registered
    (work / "strategies" / "replay.py").write_text(SHADOW.format(override=", override=True"))
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_LOADED", set())
    code, _, err = call(run_argv(bench, tmp_path / "o"))
    assert code == 0, err
    recorded = manifest(tmp_path / "o")["overrides"]
    assert recorded == {"replay": {"plugin": str(work / "strategies" / "replay.py"),
                                   "replaces": str(registry.shipped_dir("strategies") / "replay.py")}}
    assert manifest(tmp_path / "o")["plugins"] == {"replay": str(work / "strategies" / "replay.py")}


# -- 8. provenance -------------------------------------------------------------------------------------------------

def test_the_commit_is_isocls_own_only(tmp_path):
    from isocl.bench.provenance import git_commit

    def git(*args, cwd):
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)

    other = tmp_path / "other"  # another project's repository, isocl installed inside it
    (other / "site").mkdir(parents=True)
    git("init", "-q", cwd=other)
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x", cwd=other)
    assert git_commit(other / "site") == ""  # isocl's folder is not the top of that work tree
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=other, capture_output=True, text=True).stdout.strip()
    assert git_commit(other) == head and len(head) == 40  # a checkout of isocl itself
    assert git_commit(tmp_path / "nothing") == ""  # an install: no repository at all


# -- 9. tuning draws only what its benchmark accepts -------------------------------------------------------------

def test_search_spaces_follow_the_benchmark_and_one_table_holds_the_ranges(tmp_path):
    from isocl.bench.spaces import NEURO, NEURO_PARAMS
    from isocl.tuning import default_space, validate_space
    from isocl.tuning.space import _neuro_table

    smoke = load_benchmark(REPO / "benchmarks" / "smoke.toml")  # 1 epoch
    assert smoke.training["epochs"] == 1
    space = default_space("neuro-grow-prune", smoke)
    assert "finetune_epochs" not in space  # only 0 fits a 1-epoch budget
    three = smoke.replace()
    three.training["epochs"] = 3
    assert default_space("neuro-grow-prune", three)["finetune_epochs"]["high"] == 2
    assert default_space("neuro-prune", three)["finetune_epochs"] == {"type": "int", "low": 0, "high": 2,
                                                                        "log": False}
    big = smoke.replace()
    big.training["epochs"] = 50
    table = _neuro_table(big)
    assert {k: v for k, v in table.items()} == {k: p.search for k, p in NEURO_PARAMS.items() if p.search}
    assert {k: v for k, v in NEURO.items() if k != "model.intrinsic"} == table  # one source
    # a benchmark's own table that draws what the benchmark refuses is one line naming the key
    from isocl.bench.config import ConfigError

    with pytest.raises(ConfigError, match=r"search.neuro-grow-prune.finetune_epochs: value 2 is not accepted "
                                          r"\(parameter finetune_epochs = 2 .* below training.epochs \(1\)\)"):
        validate_space({"finetune_epochs": {"type": "int", "low": 0, "high": 2}}, "neuro-grow-prune", smoke)


def test_tune_on_the_smoke_benchmark_draws_no_refused_value(tmp_path, synthetic, monkeypatch):
    """The issue's command: every trial runs (no 'stopped after 3 failed trials')."""
    import isocl.tuning

    data = synthetic
    real_tune = isocl.tuning.tune
    monkeypatch.setattr(isocl.tuning, "tune", lambda *a, **k: real_tune(*a, **{**k, "data": data, "plots": False,
                                                                               "log": lambda *_: None}))
    import isocl.tuning.cli

    monkeypatch.setattr(isocl.tuning.cli, "tune", isocl.tuning.tune)
    raw = tomllib.loads((REPO / "benchmarks" / "smoke.toml").read_text())
    raw["scenario"].update(train_per_class=10, test_per_class=10, n_experiences=2)
    raw["model"]["widths"] = [4, 4]
    raw["search"]["neuro-grow-prune"]["min_width"] = {"type": "int", "low": 1, "high": 4}
    raw["search"]["neuro-grow-prune"]["grow_count"] = {"type": "int", "low": 1, "high": 4}
    path = tmp_path / "smoke.toml"
    path.write_text(tomli_w.dumps(raw))
    code, _, err = call(["tune", str(path), "--strategy", "neuro-grow-prune", "--trials", "4",
                         "--out", str(tmp_path / "study"), "--seed", "0"])
    assert code == 0, err
    assert "failed" not in err


# -- 10. duplicates ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, says", [
    (["--seeds", "0,0"], "--seeds 0,0: 0 is given twice; expected each once (a unit runs once)"),
    (["--strategies", "naive,naive"], "--strategies naive,naive: 'naive' is given twice"),
    (["--strategies", "naive, replay ,naive"], "'naive' is given twice"),
    (["--strategies", "neuro-grow,fixed-final:neuro-grow"], "unit fixed-final:neuro-grow seed 0 would run twice"),
])
def test_duplicates_are_refused(tmp_path, synthetic, extra, says):
    refused(tmp_path, run_argv(write_bench(tmp_path), tmp_path / "o", *extra), says)


def test_duplicates_in_the_file_are_refused(tmp_path, synthetic):
    raw = tiny_raw()
    raw["strategies"] = ["naive", "replay", "naive"]
    refused(tmp_path, run_argv(write_bench(tmp_path, raw), tmp_path / "o"), "strategies = ['naive', 'replay', 'naive']: "
            "'naive' is given twice")
    raw = tiny_raw()
    raw["training"]["seeds"] = [1, 2, 1]
    refused(tmp_path, run_argv(write_bench(tmp_path, raw), tmp_path / "o"), "training.seeds = [1, 2, 1]: 1 is given twice")


# -- 11. python -m isocl ------------------------------------------------------------------------------------------

def test_python_m_isocl(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    ok = subprocess.run([sys.executable, "-m", "isocl", "--help"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "usage: isocl" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "isocl", "run", "smoke", "--epochs", "-1", "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == "isocl run: error: --epochs -1 is invalid; expected an int >= 1 (at most 2**31 - 1)\n"
    assert list(tmp_path.iterdir()) == []


# -- declared parameters: the API ---------------------------------------------------------------------------------

def test_param_declarations_and_the_older_form(isolated_registry):
    from isocl.bench.config import ConfigError
    from isocl.bench.params import Param
    from isocl.bench.registry import get_strategy, register_strategy

    @register_strategy("decl-test", params={"n": Param(3, low=1, high=8, search={"type": "int", "low": 2, "high": 6}),
                                            "how": Param("a", choices=("a", "b"))})
    def build(ctx, n, how):
        return n

    spec = get_strategy("decl-test")
    assert spec.defaults == {"n": 3, "how": "a"}
    assert spec.search == {"n": {"type": "int", "low": 2, "high": 6}}
    assert spec.resolve({"n": 8}) == {"n": 8, "how": "a"}
    with pytest.raises(ConfigError, match=r"parameter n = 9 of strategy 'decl-test' is invalid; expected an int in "
                                          r"\[1, 8\]"):
        spec.resolve({"n": 9})
    with pytest.raises(ValueError, match="search value 9 is outside the declared range"):
        Param(3, low=1, high=8, search={"type": "int", "low": 2, "high": 9})
    with pytest.raises(ValueError, match="the default 0 is outside its own declaration"):
        Param(0, low=1)

    @register_strategy("legacy-test", defaults={"x": 1.0, "finetune_epochs": 0}, search={"x": {"type": "float",
                                                                                               "low": 0.5, "high": 2.0}})
    def build_legacy(ctx, x, finetune_epochs):
        return x

    legacy = get_strategy("legacy-test")
    assert legacy.defaults == {"x": 1.0, "finetune_epochs": 0} and legacy.search["x"]["high"] == 2.0
    assert legacy.resolve({"x": -3}) == {"x": -3.0, "finetune_epochs": 0}  # the older form: its type only
    with pytest.raises(ConfigError, match="wrong type"):
        legacy.resolve({"x": "big"})
    # a shared neuroplastic name takes its shared declaration
    with pytest.raises(ConfigError, match="below training.epochs \\(2\\)"):
        legacy.resolve({"finetune_epochs": 2}, training={"epochs": 2})


def test_a_model_kind_file_is_sized_against_its_tensors_before_anything_is_allocated(tmp_path):
    """A ResNet file whose config asks for nf = 10**6 (terabytes) is refused from the meta-device shapes."""
    from safetensors.torch import load_file, save

    from isocl.bench.checkpoints import load_model, save_model
    from isocl.bench.config import ConfigError
    from isocl.nn.resnet import SlimResNet18Config, build_resnet

    path = save_model(build_resnet(SlimResNet18Config()), tmp_path / "r.safetensors", strategy="naive", seed=0)
    model, meta = load_model(path)
    assert meta["kind"] == "model-kind" and meta["config"]["nf"] == 20
    for change, says in [({"nf": 10**6}, "disagrees with the tensors (backbone.bn1.bias: [1000000] from the config, "
                                         "[20] in the file)"),
                         ({"nf": "x"}, "does not build a slim_resnet18 (ValueError"),
                         ({"bogus": 1}, "does not build a slim_resnet18 (TypeError")]:
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(save(load_file(str(path)), metadata={"isocl": json.dumps(
            {**meta, "config": {**meta["config"], **change}})}))
        with pytest.raises(ConfigError, match=re.escape(says)):
            load_model(bad)
