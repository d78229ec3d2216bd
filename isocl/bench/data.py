"""CIFAR-10 as normalised in-memory tensors.

Finds the python-format archive (argument, ``ISOCL_DATA``, cache, download),
extracts it atomically, reads the pickles with a restricted unpickler, checks
their structure (not checksums: the offline copy's differ) and normalises with
per-channel statistics of the training set.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CIFAR10Tensors",
    "DataError",
    "find_batches_dir",
    "load_batches_dir",
    "load_cifar10",
    "read_batch",
    "subset_indices_per_class",
    "tensor_subset_per_class",
]

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE_NAME = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
ALL_FILES = (*TRAIN_FILES, TEST_FILE, META_FILE)
N_CLASSES = 10
BATCH_SIZE = 10_000
IMAGE_SHAPE = (3, 32, 32)
_PIXELS = 3 * 32 * 32
_TMP_PREFIX = ".extract-"
_STALE_TMP_S = 3600.0


class DataError(ValueError):
    """The data set is missing or not in the expected format."""


@dataclass(frozen=True, eq=False)
class CIFAR10Tensors:
    """CIFAR-10 normalised with the training set's per-channel mean and std.

    ``x_*`` are float32 ``N x 3 x 32 x 32``, ``y_*`` int64 class ids;
    ``mean``/``std`` are the raw statistics on the [0, 1] pixel scale.
    (``eq=False``: equality is identity, as tensors have no truth value.)
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: list[str]


# --------------------------------------------------------------------------
# Restricted unpickling


def _allowed_globals() -> dict[tuple[str, str], Any]:
    import _codecs

    try:
        from numpy._core import multiarray as _ma  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray as _ma

    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # numpy arrays pickled with protocol <= 4 ...
        ("numpy.core.multiarray", "_reconstruct"): _ma._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _ma._reconstruct,
        # ... bytes pickled by Python 3 with protocol 2 ...
        ("_codecs", "encode"): _codecs.encode,
    }
    try:  # ... and arrays pickled with protocol 5.
        try:
            from numpy._core.numeric import _frombuffer
        except ImportError:  # pragma: no cover - numpy 1.x
            from numpy.core.numeric import _frombuffer

        allowed[("numpy.core.numeric", "_frombuffer")] = _frombuffer
        allowed[("numpy._core.numeric", "_frombuffer")] = _frombuffer
    except ImportError:  # pragma: no cover - depends on numpy version
        pass
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only the globals needed to rebuild numpy arrays."""

    def __init__(self, file: io.BufferedIOBase, name: str) -> None:
        super().__init__(file, encoding="latin1")
        self._name = name
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise DataError(
                f"refusing to unpickle global {module}.{name} in {self._name}: "
                "a CIFAR-10 batch only needs numpy array reconstruction"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"refusing persistent id {pid!r} in {self._name}")


def read_batch(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Unpickle one batch file with the restricted unpickler (no checks)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path.name}: cannot read {path}: {exc}") from exc
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), path.name).load()
    except DataError:
        raise
    except Exception as exc:  # corrupt or truncated pickle
        raise DataError(
            f"{path.name}: not a readable pickle ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, dict):
        raise DataError(f"{path.name}: expected a dict, got {type(obj).__name__}")
    return obj


# --------------------------------------------------------------------------
# Structural validation


def _check_batch(name: str, batch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Return (data uint8 N x 3072, labels int64 N) or raise DataError."""
    for key in ("data", "labels"):
        if key not in batch:
            raise DataError(
                f"{name}: missing key {key!r}; expected keys 'data' and "
                f"'labels', got {sorted(map(str, batch))}"
            )
    data = batch["data"]
    want = f"expected 'data' of shape ({BATCH_SIZE}, {_PIXELS}) uint8"
    if not isinstance(data, np.ndarray):
        raise DataError(f"{name}: {want}, got {type(data).__name__}")
    if data.shape != (BATCH_SIZE, _PIXELS) or data.dtype != np.uint8:
        raise DataError(f"{name}: {want}, got {data.shape} {data.dtype}")
    raw_labels = batch["labels"]
    if not isinstance(raw_labels, (list, tuple, np.ndarray)):
        raise DataError(
            f"{name}: expected 'labels' as a list of {BATCH_SIZE} ints, "
            f"got {type(raw_labels).__name__}"
        )
    try:
        labels = np.asarray(raw_labels)
    except Exception as exc:
        raise DataError(f"{name}: 'labels' is not a list of ints: {exc}") from exc
    if labels.shape != (BATCH_SIZE,) or labels.dtype.kind not in "iu":
        raise DataError(
            f"{name}: expected 'labels' as {BATCH_SIZE} ints, got shape "
            f"{labels.shape} of {labels.dtype}"
        )
    labels = labels.astype(np.int64, copy=False)
    bad = (labels < 0) | (labels >= N_CLASSES)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{name}: expected labels in 0..{N_CLASSES - 1}, got {int(labels[i])} "
            f"at index {i} ({int(bad.sum())} out of range)"
        )
    return data, labels


def _check_counts(name: str, labels: np.ndarray, per_class: int) -> None:
    counts = np.bincount(labels, minlength=N_CLASSES)
    if not (counts == per_class).all():
        raise DataError(
            f"{name}: expected {per_class} images per class, got per-class "
            f"counts {counts.tolist()}"
        )


def _read_meta(path: Path) -> list[str]:
    meta = read_batch(path)
    names = meta.get("label_names")
    if (
        not isinstance(names, list)
        or len(names) != N_CLASSES
        or not all(isinstance(n, str) for n in names)
    ):
        raise DataError(
            f"{path.name}: expected 'label_names' as a list of {N_CLASSES} "
            f"strings, got {names!r:.200}"
        )
    return list(names)


# --------------------------------------------------------------------------
# Locating and extracting


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("ISOCL_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "isocl"


def _is_batches_dir(path: Path) -> bool:
    return all((path / f).is_file() for f in ALL_FILES)


def _archive_key(archive: Path) -> str:
    st = archive.stat()
    ident = f"{archive.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha1(ident.encode()).hexdigest()[:16]


def _clean_stale_tmp(parent: Path) -> None:
    """Best effort: drop temp dirs of extractions abandoned long ago."""
    now = time.time()
    for p in parent.glob(_TMP_PREFIX + "*"):
        try:
            if now - p.stat().st_mtime > _STALE_TMP_S:
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:  # partial download
                    p.unlink()
        except OSError:
            pass


def _extract_atomically(archive: Path, cache: Path) -> Path:
    """Extract ``archive`` into ``cache`` and return its batches directory.

    Extraction goes to a fresh ``.extract-*`` temp dir that is renamed to the
    final ``<key>/`` only once complete, so a final directory always holds a
    full extraction; a concurrent winner's directory is reused.
    """
    final = cache / "cifar10" / _archive_key(archive)
    if _is_batches_dir(final / BATCHES_DIR):
        return final / BATCHES_DIR
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale_tmp(final.parent)
        tmp = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=final.parent))
    except OSError as exc:
        raise DataError(
            f"cannot extract {archive} into cache {final.parent}: {exc}; "
            "set ISOCL_CACHE (or cache_dir) to a writable directory"
        ) from exc
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = [
                    m
                    for m in tar.getmembers()
                    if m.name.rstrip("/") == BATCHES_DIR
                    or m.name.startswith(BATCHES_DIR + "/")
                ]
                tar.extractall(tmp, members=members, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(
                f"{archive}: cannot extract ({type(exc).__name__}: {exc}); "
                f"expected a gzipped tar holding {BATCHES_DIR}/"
            ) from exc
        missing = [f for f in ALL_FILES if not (tmp / BATCHES_DIR / f).is_file()]
        if missing:
            raise DataError(
                f"{archive}: archive lacks {BATCHES_DIR}/{', '.join(missing)}"
            )
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if not _is_batches_dir(final / BATCHES_DIR):
                raise DataError(
                    f"cannot move the extraction of {archive} to {final}: {exc}; "
                    f"remove {final} if it is a broken leftover"
                ) from exc
            # Another process finished first: use its copy.
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final / BATCHES_DIR


def _from_location(path: Path, cache: Path) -> Path | None:
    """Batches dir for a directory, its ``cifar-10-batches-py/`` or archive."""
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        return _extract_atomically(path, cache)
    if not path.is_dir():
        return None
    if _is_batches_dir(path):
        return path
    if _is_batches_dir(path / BATCHES_DIR):
        return path / BATCHES_DIR
    if (path / ARCHIVE_NAME).is_file():
        return _extract_atomically(path / ARCHIVE_NAME, cache)
    return None


def _download(cache: Path) -> Path:
    from torchvision.datasets.utils import download_url

    target = cache / "cifar10"
    target.mkdir(parents=True, exist_ok=True)
    # Download under a temp name so a partial file never looks like the archive.
    tmp_name = f"{_TMP_PREFIX}{os.getpid()}-{ARCHIVE_NAME}"
    try:
        download_url(URL, str(target), filename=tmp_name, md5=MD5)
        os.replace(target / tmp_name, target / ARCHIVE_NAME)
    finally:
        (target / tmp_name).unlink(missing_ok=True)
    return target / ARCHIVE_NAME


def find_batches_dir(
    data_root: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> Path:
    """Locate (extracting or downloading if needed) ``cifar-10-batches-py``.

    Looks at ``data_root`` (else ``$ISOCL_DATA``), then the cache dir
    (``cache_dir``, else ``$ISOCL_CACHE``, else ``~/.cache/isocl``), then
    downloads the official archive into the cache if ``download``.
    """
    cache = _cache_root(cache_dir)
    looked: list[str] = []
    if data_root is not None:
        candidates = [Path(data_root).expanduser()]
        looked.append(f"data_root={candidates[0]}")
    elif os.environ.get("ISOCL_DATA"):
        candidates = [Path(os.environ["ISOCL_DATA"]).expanduser()]
        looked.append(f"ISOCL_DATA={candidates[0]}")
    else:
        candidates = []
        looked.append("ISOCL_DATA (not set)")
    candidates.append(cache / "cifar10")
    looked.append(f"cache {cache / 'cifar10'}")
    for cand in candidates:
        found = _from_location(cand, cache)
        if found is not None:
            return found
    hint = (
        f"looked in {'; '.join(looked)}. Point ISOCL_DATA (or data_root) at a "
        f"directory holding {BATCHES_DIR}/ or {ARCHIVE_NAME}"
    )
    if not download:
        raise DataError(f"CIFAR-10 not found (download=False): {hint}")
    try:
        archive = _download(cache)
    except Exception as exc:
        raise DataError(
            f"CIFAR-10 not found and download from {URL} failed "
            f"({type(exc).__name__}: {exc}): {hint}"
        ) from exc
    return _extract_atomically(archive, cache)


# --------------------------------------------------------------------------
# Loading and normalising


def _channel_stats(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean/std (population, [0, 1] scale) of uint8 images.

    Uses a 256-bin histogram per channel, so the float64 moments cost one
    pass over the bytes and no float copy of the data.
    """
    levels = np.arange(256, dtype=np.float64) / 255.0
    means, stds = np.empty(3), np.empty(3)
    for c in range(3):
        hist = torch.bincount(x[:, c].reshape(-1), minlength=256).numpy()
        hist = hist.astype(np.float64)
        n = hist.sum()
        mean = float(hist @ levels) / n
        var = float(hist @ (levels - mean) ** 2) / n
        means[c], stds[c] = mean, np.sqrt(var)
    return means, stds


def _normalise(x: torch.Tensor, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float32 ``(x / 255 - mean) / std``."""
    scale = torch.tensor(1.0 / (255.0 * std), dtype=torch.float32).view(1, 3, 1, 1)
    shift = torch.tensor(-mean / std, dtype=torch.float32).view(1, 3, 1, 1)
    out = x.to(torch.float32)
    out.mul_(scale).add_(shift)
    return out


def _stack(dir_: Path, files: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    datas, labels = [], []
    for f in files:
        batch_data, batch_labels = _check_batch(f, read_batch(dir_ / f))
        datas.append(batch_data)
        labels.append(batch_labels)
    data = np.concatenate(datas) if len(datas) > 1 else datas[0]
    y = np.concatenate(labels) if len(labels) > 1 else labels[0]
    x = torch.from_numpy(data).view(-1, *IMAGE_SHAPE)
    return x, torch.from_numpy(y)


def load_batches_dir(batches_dir: str | os.PathLike[str]) -> CIFAR10Tensors:
    """Read, validate and normalise an extracted ``cifar-10-batches-py``."""
    d = Path(batches_dir)
    missing = [f for f in ALL_FILES if not (d / f).is_file()]
    if missing:
        raise DataError(f"{d}: missing {', '.join(missing)}")
    classes = _read_meta(d / META_FILE)
    x_tr, y_tr = _stack(d, TRAIN_FILES)
    _check_counts("training batches", y_tr.numpy(), 5000)
    x_te, y_te = _stack(d, (TEST_FILE,))
    _check_counts(TEST_FILE, y_te.numpy(), 1000)
    mean, std = _channel_stats(x_tr)
    return CIFAR10Tensors(
        x_train=_normalise(x_tr, mean, std),
        y_train=y_tr,
        x_test=_normalise(x_te, mean, std),
        y_test=y_te,
        mean=(float(mean[0]), float(mean[1]), float(mean[2])),
        std=(float(std[0]), float(std[1]), float(std[2])),
        classes=classes,
    )


def load_cifar10(
    data_root: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
) -> CIFAR10Tensors:
    """Load CIFAR-10 as normalised tensors (see :func:`find_batches_dir`)."""
    return load_batches_dir(
        find_batches_dir(data_root, cache_dir=cache_dir, download=download)
    )


# --------------------------------------------------------------------------
# Subsets


def subset_indices_per_class(
    y: torch.Tensor, per_class: int, seed: int
) -> torch.Tensor:
    """Indices (ascending) of the first ``per_class`` samples of each class
    after a permutation seeded by ``seed``."""
    if isinstance(per_class, bool) or not isinstance(per_class, int):
        raise TypeError(f"per_class must be an int, got {per_class!r}")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    y = torch.as_tensor(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {tuple(y.shape)}")
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(y), generator=gen)
    y_perm = y[perm]
    picked: list[torch.Tensor] = []
    for c in torch.unique(y).tolist():
        pos = perm[y_perm == c]
        if len(pos) < per_class:
            raise ValueError(
                f"per_class={per_class} exceeds the {len(pos)} samples of class {c}"
            )
        picked.append(pos[:per_class])
    return torch.sort(torch.cat(picked)).values


def tensor_subset_per_class(
    x: torch.Tensor, y: torch.Tensor, per_class: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` restricted to ``per_class`` seeded samples of each class."""
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    idx = subset_indices_per_class(y, per_class, seed)
    return x[idx], y[idx]


if __name__ == "__main__":  # python -m isocl.bench.data [DATA_ROOT]: time a load
    import sys

    root = sys.argv[1] if len(sys.argv) > 1 else None
    found = find_batches_dir(root)
    t0 = time.perf_counter()
    loaded = load_batches_dir(found)
    print(
        f"{found}: {time.perf_counter() - t0:.2f} s to normalised tensors; "
        f"mean {tuple(round(m, 4) for m in loaded.mean)}, "
        f"std {tuple(round(v, 4) for v in loaded.std)}"
    )
