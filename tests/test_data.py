"""Tests for isocl.bench.data: loading, validation, restricted unpickling, extraction."""

from __future__ import annotations

import os
import pickle
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from isocl.bench import data
from isocl.bench.data import (
    ALL_FILES,
    BATCHES_DIR,
    CIFAR10Tensors,
    DataError,
    find_batches_dir,
    load_batches_dir,
    load_cifar10,
    read_batch,
    subset_indices_per_class,
    tensor_subset_per_class,
)

CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def _write_pickle(path: Path, obj: object, protocol: int = 4) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _fake_batch(n: int = 10_000, pixels: int = 3072, label: int | None = None) -> dict:
    labels = [i % 10 for i in range(n)]
    if label is not None:
        labels[7] = label
    return {
        "batch_label": "fake",
        "labels": labels,
        "data": np.zeros((n, pixels), dtype=np.uint8),
        "filenames": [f"{i}.png" for i in range(n)],
    }


def _fake_dir(root: Path, batch1: dict | None = None, meta: dict | None = None) -> Path:
    """A cifar-10-batches-py dir whose meta and data_batch_1 are given; the
    other files are empty placeholders (never read: the error comes first)."""
    d = root / BATCHES_DIR
    d.mkdir(parents=True)
    for f in ALL_FILES:
        (d / f).write_bytes(b"")
    _write_pickle(d / "batches.meta", meta or {"label_names": CLASSES})
    if batch1 is not None:
        _write_pickle(d / "data_batch_1", batch1)
    return d


def _fake_archive(root: Path) -> Path:
    """A tiny tar.gz with the right member names (extraction only)."""
    src = root / "src" / BATCHES_DIR
    src.mkdir(parents=True)
    for f in ALL_FILES:
        (src / f).write_bytes(f.encode())
    archive = root / "arch" / data.ARCHIVE_NAME
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=BATCHES_DIR)
    return archive


# --------------------------------------------------------------------------
# Real data


def test_real_archive_shapes_counts_and_stats(cifar10: CIFAR10Tensors) -> None:
    d = cifar10
    assert d.x_train.shape == (50_000, 3, 32, 32)
    assert d.x_test.shape == (10_000, 3, 32, 32)
    assert d.x_train.dtype == d.x_test.dtype == torch.float32
    assert d.y_train.dtype == d.y_test.dtype == torch.int64
    assert torch.bincount(d.y_train, minlength=10).tolist() == [5000] * 10
    assert torch.bincount(d.y_test, minlength=10).tolist() == [1000] * 10
    assert d.classes == CLASSES
    # Raw statistics as documented in the offline copy's README.
    np.testing.assert_allclose(d.mean, (0.4914, 0.4822, 0.4465), atol=1e-3)
    np.testing.assert_allclose(d.std, (0.2470, 0.2435, 0.2616), atol=1e-3)
    # Normalised training set: per-channel mean 0, std 1.
    var, mean = torch.var_mean(d.x_train, dim=(0, 2, 3), correction=0)
    assert mean.abs().max().item() < 1e-3
    assert (var.sqrt() - 1).abs().max().item() < 1e-3
    # Test set normalised with the *training* statistics: close, not exact.
    test_mean = d.x_test.mean(dim=(0, 2, 3))
    assert test_mean.abs().max().item() < 0.05
    assert test_mean.abs().max().item() > 1e-4


def test_real_extracted_dir_matches_archive(
    cifar10: CIFAR10Tensors, cifar10_source: Path, cifar10_cache: Path
) -> None:
    # The session fixture loaded via the archive, extracting it into the
    # cache; finding it again reuses that extraction.
    batches = find_batches_dir(cifar10_source, cache_dir=cifar10_cache, download=False)
    assert batches.name == BATCHES_DIR
    assert all((batches / f).is_file() for f in ALL_FILES)
    # An extracted dir is used in place: its parent or the dir itself.
    assert (
        find_batches_dir(batches.parent, cache_dir=cifar10_cache / "unused") == batches
    )
    assert find_batches_dir(batches, cache_dir=cifar10_cache / "unused") == batches
    assert not (cifar10_cache / "unused").exists()
    # Its test batch, normalised with the training statistics, is x_test.
    raw = read_batch(batches / "test_batch")
    assert raw["labels"][:500] == cifar10.y_test[:500].tolist()
    x = torch.from_numpy(raw["data"][:500]).view(-1, 3, 32, 32).double() / 255
    mean = torch.tensor(cifar10.mean, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(cifar10.std, dtype=torch.float64).view(1, 3, 1, 1)
    expected = ((x - mean) / std).float()
    torch.testing.assert_close(cifar10.x_test[:500], expected, atol=1e-5, rtol=0)


def test_isocl_data_env_is_used(
    cifar10_source: Path, cifar10_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ISOCL_DATA", str(cifar10_source))
    monkeypatch.setenv("ISOCL_CACHE", str(cifar10_cache))
    found = find_batches_dir(download=False)
    assert found == find_batches_dir(cifar10_source, cache_dir=cifar10_cache)


# --------------------------------------------------------------------------
# Structural validation


def test_wrong_data_shape_names_file_and_shape(tmp_path: Path) -> None:
    d = _fake_dir(tmp_path, batch1=_fake_batch(pixels=3071))
    with pytest.raises(DataError) as err:
        load_batches_dir(d)
    msg = str(err.value)
    assert "data_batch_1" in msg
    assert "(10000, 3072) uint8" in msg
    assert "(10000, 3071) uint8" in msg


def test_bad_label_names_file_value_and_index(tmp_path: Path) -> None:
    d = _fake_dir(tmp_path, batch1=_fake_batch(label=10))
    with pytest.raises(
        DataError,
        match=r"data_batch_1: expected labels in 0\.\.9, got 10 at index 7",
    ):
        load_batches_dir(d)


def test_wrong_label_count_and_missing_key(tmp_path: Path) -> None:
    batch = _fake_batch()
    batch["labels"] = batch["labels"][:9999]
    d = _fake_dir(tmp_path / "a", batch1=batch)
    with pytest.raises(
        DataError,
        match=r"data_batch_1: expected 'labels' as 10000 ints, got shape \(9999,\)",
    ):
        load_batches_dir(d)
    batch = _fake_batch()
    del batch["labels"]
    d = _fake_dir(tmp_path / "b", batch1=batch)
    with pytest.raises(DataError, match="data_batch_1: missing key 'labels'"):
        load_batches_dir(d)


def test_bad_meta_and_missing_files(tmp_path: Path) -> None:
    d = _fake_dir(tmp_path / "a", meta={"label_names": CLASSES[:9]})
    with pytest.raises(
        DataError, match="batches.meta: expected 'label_names' as a list of 10"
    ):
        load_batches_dir(d)
    d = _fake_dir(tmp_path / "b", batch1=_fake_batch())
    (d / "test_batch").unlink()
    with pytest.raises(DataError, match="missing test_batch"):
        load_batches_dir(d)


def test_class_counts_checked() -> None:
    labels = np.repeat(np.arange(10), 1000)
    data._check_counts("test_batch", labels, 1000)
    labels[0] = 1
    with pytest.raises(
        DataError,
        match=r"test_batch: expected 1000 images per class, got per-class "
        r"counts \[999, 1001,",
    ):
        data._check_counts("test_batch", labels, 1000)


def test_truncated_pickle_is_data_error(tmp_path: Path) -> None:
    p = tmp_path / "data_batch_2"
    p.write_bytes(pickle.dumps(_fake_batch(n=10), protocol=4)[:-20])
    with pytest.raises(DataError, match="data_batch_2: not a readable pickle"):
        read_batch(p)


# --------------------------------------------------------------------------
# Restricted unpickler


class _Payload:
    """Pickles as exec(code): writes a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.code = f"open({str(marker)!r}, 'w').write('pwned')"

    def __reduce__(self):
        return (exec, (self.code,))


class _SystemPayload:
    def __init__(self, marker: Path) -> None:
        self.cmd = f"touch {marker}"

    def __reduce__(self):
        return (os.system, (self.cmd,))


def test_restricted_unpickler_refuses_exec_payload(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    blob = pickle.dumps({"data": _Payload(marker), "labels": []}, protocol=4)
    # Control: the payload is live under the ordinary unpickler.
    pickle.loads(blob)
    assert marker.read_text() == "pwned"
    marker.unlink()

    p = tmp_path / "data_batch_1"
    p.write_bytes(blob)
    with pytest.raises(
        DataError,
        match=r"refusing to unpickle global builtins\.exec in data_batch_1",
    ):
        read_batch(p)
    assert not marker.exists()


def test_restricted_unpickler_refuses_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    p = tmp_path / "test_batch"
    p.write_bytes(pickle.dumps(_SystemPayload(marker), protocol=2))
    with pytest.raises(
        DataError,
        match=r"refusing to unpickle global (posix|os)\.system in test_batch",
    ):
        read_batch(p)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_reads_numpy_batches(
    tmp_path: Path, protocol: int
) -> None:
    batch = _fake_batch(n=20)
    batch["data"] = np.arange(20 * 3072, dtype=np.uint8).reshape(20, 3072)
    p = tmp_path / "data_batch_1"
    _write_pickle(p, batch, protocol=protocol)
    got = read_batch(p)
    assert got["labels"] == batch["labels"]
    np.testing.assert_array_equal(got["data"], batch["data"])


def test_restricted_unpickler_reads_legacy_numpy_core_name(tmp_path: Path) -> None:
    # The official archive (written by numpy 1) names numpy.core.multiarray.
    blob = pickle.dumps({"data": np.arange(6, dtype=np.uint8)}, protocol=2)
    assert b"numpy._core.multiarray" in blob
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    p = tmp_path / "data_batch_3"
    p.write_bytes(blob)
    np.testing.assert_array_equal(read_batch(p)["data"], np.arange(6, dtype=np.uint8))


# --------------------------------------------------------------------------
# Locating and atomic extraction


def test_archive_is_extracted_into_cache(tmp_path: Path) -> None:
    archive = _fake_archive(tmp_path)
    cache = tmp_path / "cache"
    found = find_batches_dir(archive.parent, cache_dir=cache, download=False)
    assert found.parent.parent == cache / "cifar10"
    assert sorted(p.name for p in found.iterdir()) == sorted(ALL_FILES)
    assert (found / "test_batch").read_bytes() == b"test_batch"
    # No temp dirs left behind; a second call reuses the extraction.
    assert [p.name for p in (cache / "cifar10").iterdir()] == [found.parent.name]
    assert find_batches_dir(archive, cache_dir=cache) == found


def test_leftover_temp_dir_is_ignored(tmp_path: Path) -> None:
    archive = _fake_archive(tmp_path)
    cache = tmp_path / "cache"
    # An "interrupted" extraction: temp dir with a partial batches dir.
    left = cache / "cifar10" / ".extract-interrupted"
    (left / BATCHES_DIR).mkdir(parents=True)
    (left / BATCHES_DIR / "data_batch_1").write_bytes(b"partial")
    found = find_batches_dir(archive.parent, cache_dir=cache, download=False)
    assert ".extract-" not in str(found)
    assert len(list(found.iterdir())) == 7
    assert (found / "data_batch_1").read_bytes() == b"data_batch_1"
    assert left.exists()  # recent: may belong to a running extraction
    # Abandoned long ago: cleaned up by the next extraction.
    old = time.time() - 2 * 3600
    os.utime(left, (old, old))
    os.utime(archive, None)  # new mtime -> new cache key -> new extraction
    found2 = find_batches_dir(archive.parent, cache_dir=cache, download=False)
    assert found2 != found
    assert not left.exists()


def test_failed_extraction_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _fake_archive(tmp_path)
    cache = tmp_path / "cache"
    real_extractall = tarfile.TarFile.extractall

    def half_then_fail(self, path, members=None, **kw):
        real_extractall(self, path, members=list(members)[:3], **kw)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(tarfile.TarFile, "extractall", half_then_fail)
    with pytest.raises(DataError, match="cannot extract"):
        find_batches_dir(archive.parent, cache_dir=cache, download=False)
    assert list((cache / "cifar10").iterdir()) == []
    monkeypatch.undo()
    found = find_batches_dir(archive.parent, cache_dir=cache, download=False)
    assert len(list(found.iterdir())) == 7


def test_concurrent_winner_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _fake_archive(tmp_path)
    cache = tmp_path / "cache"
    final = cache / "cifar10" / data._archive_key(archive)
    real_rename = os.rename

    def other_process_wins(src, dst):
        # Another process completes the same extraction just before us.
        (Path(dst) / BATCHES_DIR).mkdir(parents=True)
        for f in ALL_FILES:
            (Path(dst) / BATCHES_DIR / f).write_bytes(b"winner")
        real_rename(src, dst)  # fails: dst exists and is not empty

    monkeypatch.setattr(data.os, "rename", other_process_wins)
    found = find_batches_dir(archive.parent, cache_dir=cache, download=False)
    assert found == final / BATCHES_DIR
    assert (found / "data_batch_1").read_bytes() == b"winner"
    assert [p.name for p in (cache / "cifar10").iterdir()] == [final.name]


def test_unusable_cache_is_data_error(tmp_path: Path) -> None:
    archive = _fake_archive(tmp_path)
    not_a_dir = tmp_path / "cache-file"
    not_a_dir.write_text("x")
    with pytest.raises(DataError, match="set ISOCL_CACHE"):
        find_batches_dir(archive, cache_dir=not_a_dir)
    # A broken (incomplete) final dir not made by us is reported, not used.
    cache = tmp_path / "cache"
    broken = cache / "cifar10" / data._archive_key(archive) / BATCHES_DIR
    broken.mkdir(parents=True)
    (broken / "data_batch_1").write_bytes(b"?")
    with pytest.raises(DataError, match="broken leftover"):
        find_batches_dir(archive, cache_dir=cache)
    assert [p.name for p in (cache / "cifar10").iterdir()] == [broken.parent.name]


def test_not_found_without_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ISOCL_DATA", raising=False)
    with pytest.raises(DataError) as err:
        load_cifar10(cache_dir=tmp_path / "cache", download=False)
    msg = str(err.value)
    assert "download=False" in msg and "ISOCL_DATA" in msg
    assert str(tmp_path / "cache" / "cifar10") in msg


def test_failed_download_is_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets.utils as tvu

    calls = []

    def no_network(url, root, filename=None, md5=None, **kw):
        calls.append((url, md5))
        raise OSError("network unreachable (simulated)")

    monkeypatch.setattr(tvu, "download_url", no_network)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(
        DataError,
        match=r"download from .* failed .*network unreachable.*ISOCL_DATA",
    ):
        load_cifar10(empty, cache_dir=tmp_path / "cache")
    assert calls == [(data.URL, data.MD5)]
    assert not (tmp_path / "cache" / "cifar10" / data.ARCHIVE_NAME).exists()


# --------------------------------------------------------------------------
# Subsets


def test_tensor_subset_per_class() -> None:
    y = torch.arange(10).repeat(30)
    x = torch.arange(300, dtype=torch.float32)
    xs, ys = tensor_subset_per_class(x, y, per_class=4, seed=3)
    assert torch.bincount(ys, minlength=10).tolist() == [4] * 10
    assert torch.equal(y[xs.long()], ys)  # x and y stay aligned
    xs2, _ = tensor_subset_per_class(x, y, per_class=4, seed=3)
    xs3, _ = tensor_subset_per_class(x, y, per_class=4, seed=4)
    assert torch.equal(xs, xs2)
    assert not torch.equal(xs, xs3)
    idx = subset_indices_per_class(y, 4, seed=3)
    assert torch.equal(idx, torch.sort(idx).values)
    with pytest.raises(
        ValueError, match="per_class=31 exceeds the 30 samples of class 0"
    ):
        subset_indices_per_class(y, 31, seed=0)
    with pytest.raises(ValueError, match="per_class must be >= 1"):
        subset_indices_per_class(y, 0, seed=0)
    with pytest.raises(ValueError, match="x and y differ in length"):
        tensor_subset_per_class(x[:5], y, 1, 0)
