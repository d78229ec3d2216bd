"""Units as Ray tasks: ``isocl run --executor ray [--address ADDR]``.

:class:`RayExecutor` is a :class:`concurrent.futures.Executor`: ``submit``
starts a Ray task and returns its ``ObjectRef.future()``, so the runner's
one scheduling path (:func:`isocl.bench.runner._schedule`) drives Ray as it
drives ``--jobs N``: the driver submits at most N units at a time, writes
every finished record (and its models and logs, which come back with it)
atomically into the one results folder, resumes like a local run, and
records a task that died (a worker killed, a node lost) as a failed unit.

Each task asks Ray for ``task_cpus`` CPUs (``--threads``, default 1; torch
uses as many threads) and one GPU when the device is CUDA. Without an
address an embedded local Ray starts for the run and stops after it; with
one (``auto``, ``ray://head:10001``, ``head:6379``) the run joins an
existing cluster, whose nodes need isocl installed (``pip install
'isocl[ray]'``) and CIFAR-10 in ``$ISOCL_DATA`` (or the download cache).
"""

from __future__ import annotations

import os
import socket
import sys
from concurrent.futures import Executor, Future
from typing import Any

from isocl.bench.config import ConfigError

__all__ = ["CONNECT_TIMEOUT_S", "RayExecutor", "check_address", "ray_executor_for_run"]

CONNECT_TIMEOUT_S = 30.0  # seconds to reach a cluster's address (a TCP probe) before isocl gives up


def _host_port(address: str) -> tuple[str, int] | None:
    """``ray://host:10001`` / ``host:6379`` -> (host, port); None for ``auto`` and other forms Ray resolves."""
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def check_address(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse (ConfigError, naming the address) a cluster address that nothing answers on within ``timeout``:
    Ray itself retries an unreachable address for minutes without a word."""
    hp = _host_port(address)
    if hp is None:
        return
    if not 0 < hp[1] < 65536:
        raise ConfigError(f"--address {address}: port {hp[1]} is invalid; expected 1..65535")
    try:
        with socket.create_connection(hp, timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); start one "
                          "(ray start --head) or leave --address out for a local Ray instance") from None


def _init(ray, where: str, **kwargs: Any):
    """``ray.init(**kwargs)``; its failures as one ConfigError naming ``where``. (In the main thread: Ray
    installs signal handlers there. The address was probed first, so Ray does not retry a dead one.)"""
    try:
        return ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError, OSError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(f"{where}: Ray could not start or connect ({type(exc).__name__}: {text})") from None


class RayExecutor(Executor):
    """Ray tasks behind the ``concurrent.futures`` interface.

    Each task asks for ``task_cpus`` CPUs (and runs torch with as many
    threads) and ``task_gpus`` GPUs. ``address=None`` starts a local Ray
    instance (``init_kwargs`` go to ``ray.init``, e.g. ``num_cpus``,
    ``include_dashboard``) and shuts it down
    in :meth:`shutdown`; an address connects to a running cluster (left
    running). ``data`` (CIFAR-10 tensors, or synthetic ones in tests) is put
    into Ray's object store once and given to every task; without it each
    worker loads CIFAR-10 itself. ``max_retries``: Ray's retries of a task
    whose worker died (application errors are not retried: a unit records
    its own failure).
    """

    def __init__(self, address: str | None = None, *, task_cpus: int = 1, task_gpus: float = 0, data: Any = None,
                 max_retries: int = 1, verbose: bool = False, connect_timeout: float = CONNECT_TIMEOUT_S,
                 **init_kwargs: Any) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'isocl[ray]'") from None
        if task_cpus < 1:
            raise ValueError(f"task_cpus must be >= 1, instead got task_cpus = {task_cpus}")
        self._ray = ray
        self.task_cpus, self.task_gpus, self.verbose = int(task_cpus), task_gpus, verbose
        self._owns = not ray.is_initialized() and address is None
        if not ray.is_initialized():
            init_kwargs.setdefault("logging_level", "INFO" if verbose else "ERROR")  # Ray's own notices: --verbose
            init_kwargs.setdefault("log_to_driver", True)  # isocl's own warnings from tasks (filtered as here)
            env = dict(init_kwargs.pop("runtime_env", None) or {})
            env_vars = {"ISOCL_VERBOSE": "1" if verbose else "0", **env.get("env_vars", {})}
            for key in ("ISOCL_DATA", "ISOCL_STRATEGY_PATH"):
                if key in os.environ and address is None:
                    env_vars.setdefault(key, os.environ[key])
            env["env_vars"] = env_vars
            if address is not None:
                check_address(address, connect_timeout)
            where = f"--address {address}" if address is not None else "--executor ray"
            self.context = _init(ray, where, address=address, runtime_env=env, **init_kwargs)
        else:
            self.context = None
        self._data_ref = ray.put(data) if data is not None else None
        self._remote = ray.remote(_run_task).options(num_cpus=self.task_cpus, num_gpus=self.task_gpus,
                                                     max_retries=max_retries, retry_exceptions=False)
        self._refs: list[Any] = []

    @property
    def dashboard_url(self) -> str | None:
        url = getattr(self.context, "dashboard_url", None) if self.context is not None else None
        return f"http://{url}" if url and not url.startswith("http") else url

    @property
    def capacity(self) -> int:
        """How many tasks the cluster runs at once (its CPUs, or GPUs, over each task's share)."""
        res = self._ray.cluster_resources()
        n = int(res.get("CPU", 1) // self.task_cpus)
        if self.task_gpus:
            n = min(n, int(res.get("GPU", 0) // self.task_gpus))
        return max(1, n)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        ref = self._remote.remote(fn, args, kwargs, self.task_cpus, self.verbose, self._data_ref)
        self._refs.append(ref)
        return ref.future()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for ref in self._refs:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - finished or already gone
                    pass
        self._refs = []
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False


def ray_executor_for_run(bench, args) -> tuple[RayExecutor, int]:
    """The executor of ``isocl run --executor ray`` and how many units it keeps in flight."""
    device = args.device or bench.training["device"]
    from isocl.bench.quiet import is_verbose

    executor = RayExecutor(args.address, task_cpus=args.threads or 1, task_gpus=1 if device.startswith("cuda") else 0,
                           verbose=is_verbose())
    jobs = args.jobs if args.jobs > 1 else executor.capacity
    where = f"Ray cluster {args.address}" if args.address else "a local Ray instance"
    url = executor.dashboard_url
    print(f"isocl run: units as Ray tasks on {where}, {jobs} at a time, {executor.task_cpus} CPU(s)"
          + (" and 1 GPU" if executor.task_gpus else "") + " each"
          + (f"; Ray dashboard: {url}" if url else ""), file=sys.stderr)
    return executor, jobs
