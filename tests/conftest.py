"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests' models are tiny: intra-op threads gain nothing, and on a busy
    2-core machine OpenMP oversubscription makes them several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def restore_threads():
    """Puts torch's thread count back after a test that runs a script setting its own (``--threads``)."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _cifar10_source() -> Path | None:
    """The offline CIFAR-10 copy: $ISOCL_DATA (relative paths from the repo
    root), else ../shared/data/cifar10 next to the repo."""
    env = os.environ.get("ISOCL_DATA")
    cand = Path(env) if env else Path("../shared/data/cifar10")
    if not cand.is_absolute():
        cand = (REPO_ROOT / cand).resolve()
    has_data = (cand / "cifar-10-python.tar.gz").is_file() or (
        cand / "cifar-10-batches-py" / "data_batch_1"
    ).is_file()
    return cand if has_data else None


@pytest.fixture(scope="session")
def cifar10_source() -> Path:
    """Directory holding the CIFAR-10 archive (or its extraction); skips if absent."""
    src = _cifar10_source()
    if src is None:
        pytest.skip(
            "CIFAR-10 not available: set ISOCL_DATA to a directory holding "
            "cifar-10-python.tar.gz or cifar-10-batches-py/"
        )
    return src


@pytest.fixture(scope="session")
def cifar10_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session cache dir where the archive is extracted once."""
    return tmp_path_factory.mktemp("isocl-cache")


@pytest.fixture(scope="session")
def cifar10(cifar10_source: Path, cifar10_cache: Path):
    """The real CIFAR-10 as normalised tensors, loaded once per session."""
    from isocl.bench.data import load_cifar10

    return load_cifar10(cifar10_source, cache_dir=cifar10_cache, download=False)
