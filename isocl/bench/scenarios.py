"""Split CIFAR-10 benchmarks (Avalanche 0.6) built from in-memory tensors.

Experiences are computed here as row indices into the shared tensors (no
copies, no per-sample transforms) and handed to Avalanche's generic
generators (``benchmark_from_datasets``, ``with_task_labels``,
``with_classes_timeline``). :func:`stream_tensors` reads an experience back
as three tensors by following Avalanche's flat index structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from avalanche.benchmarks.scenarios import (
    CLScenario,
    benchmark_from_datasets,
    with_classes_timeline,
    with_task_labels,
)
from avalanche.benchmarks.utils import (
    AvalancheDataset,
    ConstantSequence,
    DataAttribute,
    TaskAwareSupervisedClassificationDataset,
    TaskLabels,
)
from avalanche.benchmarks.utils.data import _FlatDataWithTransform
from avalanche.benchmarks.utils.flat_data import FlatData, LazyIndices, LazyRange
from torch.utils.data import DataLoader, Dataset, TensorDataset

from isocl.bench.data import CIFAR10Tensors, subset_indices_per_class

if TYPE_CHECKING:  # a type only: the benchmark file's parsed form
    from isocl.bench.config import Benchmark

__all__ = [
    "SETTINGS",
    "build_scenario",
    "make_split_cifar10",
    "scenario_seed",
    "stream_tensors",
    "synthetic_tensors",
]

SETTINGS = ("class_il", "task_il")


# --------------------------------------------------------------------------
# Benchmark construction


def _check_class_order(class_order: Sequence[int], n_classes: int) -> list[int]:
    try:
        order = [int(c) for c in class_order]
        ok = all(int(c) == c for c in class_order)
    except (TypeError, ValueError):
        ok = False
    if not ok or sorted(order) != list(range(n_classes)):
        raise ValueError(
            f"class_order must be a permutation of 0..{n_classes - 1}, "
            f"got {list(class_order)!r}"
        )
    return order


def _resolve_class_order(
    class_order: Sequence[int] | None, seed: int | None, n_classes: int
) -> list[int]:
    if class_order is not None:
        return _check_class_order(class_order, n_classes)
    if seed is None:
        return list(range(n_classes))
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n_classes, generator=gen).tolist()


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _split_validation(
    y: torch.Tensor, rows: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced seeded split of ``rows``: floor(fraction * n_c) rows of
    each class go to validation. Both parts are returned sorted."""
    if fraction == 0.0:
        return rows, rows[:0]
    gen = torch.Generator().manual_seed(seed)
    rows = rows[torch.randperm(len(rows), generator=gen)]
    labels = y[rows]
    train_parts, valid_parts = [], []
    for c in torch.unique(labels).tolist():
        rc = rows[labels == c]
        n_val = int(fraction * len(rc))
        valid_parts.append(rc[:n_val])
        train_parts.append(rc[n_val:])
    return (
        torch.sort(torch.cat(train_parts)).values,
        torch.sort(torch.cat(valid_parts)).values,
    )


class _Bank:
    """One tensor source (train or test) shared by all experience datasets."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x = x
        self.y = y
        # Yields (x,); y and t are appended from data attributes.
        self.base = AvalancheDataset([TensorDataset(x)])

    def dataset(
        self, rows: torch.Tensor, remap: torch.Tensor, task: int
    ) -> TaskAwareSupervisedClassificationDataset:
        """Experience dataset over ``rows`` yielding ``(x, remap[y], task)``."""
        labels = remap[self.y[rows]]
        targets = DataAttribute(labels.tolist(), "targets", use_in_getitem=True)
        # Known already; spares with_classes_timeline a per-sample Python loop.
        targets._uniques = set(torch.unique(labels).tolist())
        tasks = TaskLabels(ConstantSequence(task, len(rows)))
        return TaskAwareSupervisedClassificationDataset(
            [self.base.subset(rows.tolist())],
            data_attributes=[targets, tasks],
        )


_TIMELINE = (
    "classes_in_this_experience",
    "previous_classes",
    "classes_seen_so_far",
    "future_classes",
)


def _timeline_as_lists(bm: CLScenario) -> None:
    """Turn the sets from ``with_classes_timeline`` into sorted lists.

    Avalanche 0.6's ``MultiHeadClassifier.adaptation`` indexes a tensor with
    ``classes_in_this_experience``, which fails for a set.
    """
    for stream in bm.streams.values():
        for exp in stream:
            for name in _TIMELINE:
                setattr(exp, name, sorted(getattr(exp, name)))


def make_split_cifar10(
    data: CIFAR10Tensors,
    *,
    setting: str,
    n_experiences: int = 5,
    class_order: list[int] | None = None,
    seed: int | None = 0,
    validation_fraction: float = 0.0,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
) -> CLScenario:
    """Split CIFAR-10 into ``n_experiences`` experiences of equal class count.

    ``setting="class_il"``: task label 0, global class ids (one growing head).
    ``setting="task_il"``: experience i has task label i and class ids
    0..k-1 in the experience's class order (one head per task).
    ``class_order`` fixes the order, else it is drawn from ``seed`` (natural
    order if ``seed`` is None). ``validation_fraction`` moves that share of
    each class of each training experience (seeded) into ``valid_stream``.
    ``train_per_class``/``test_per_class`` subsample each class (seeded).

    The result is an Avalanche ``CLScenario`` with ``train_stream``,
    ``test_stream`` (and ``valid_stream``), plus ``n_classes``,
    ``classes_order``, ``original_classes_in_exp``, ``setting`` and
    ``n_experiences`` attributes.
    """
    n_experiences = _check_split_args(data, setting, n_experiences, seed, validation_fraction)
    n_classes = len(data.classes)
    order = _resolve_class_order(class_order, seed, n_classes)
    rng_seed = 0 if seed is None else seed
    train_rows, valid_rows, test_rows = _split_rows(
        data, train_per_class, test_per_class, float(validation_fraction), rng_seed
    )
    k = n_classes // n_experiences
    exp_classes = [order[e * k : (e + 1) * k] for e in range(n_experiences)]
    streams = _experience_streams(
        data, setting, exp_classes, {"train": train_rows, "valid": valid_rows, "test": test_rows}
    )
    if validation_fraction == 0.0:
        del streams["valid"]

    bm = with_classes_timeline(with_task_labels(benchmark_from_datasets(**streams)))
    _timeline_as_lists(bm)
    bm.n_classes = n_classes
    bm.classes_order = order
    bm.original_classes_in_exp = exp_classes
    bm.setting = setting
    bm.n_experiences = n_experiences
    bm.mean, bm.std = data.mean, data.std  # the normalisation (augmentation pads with black in it)
    return bm


def scenario_seed(bench: "Benchmark", seed: int | None) -> int:
    """The seed of a unit's scenario: the unit's own seed when ``scenario.vary_with_seed``
    (class order, data subset and validation split then differ between seeds and are
    shared by every strategy of that seed: paired runs), else ``scenario.seed``."""
    sc = bench.scenario
    return int(seed) if sc.get("vary_with_seed") and seed is not None else int(sc["seed"])


def build_scenario(bench: "Benchmark", data: CIFAR10Tensors, seed: int | None = None):
    """The split-CIFAR10 scenario of ``bench`` for unit seed ``seed`` (see :func:`scenario_seed`)."""
    sc = bench.scenario
    return make_split_cifar10(
        data,
        setting=sc["setting"],
        n_experiences=sc["n_experiences"],
        class_order=sc["class_order"],
        seed=scenario_seed(bench, seed),
        validation_fraction=sc["validation_fraction"],
        train_per_class=sc["train_per_class"] or None,
        test_per_class=sc["test_per_class"] or None,
    )


def _check_split_args(
    data: CIFAR10Tensors, setting: str, n_experiences: int, seed: int | None, validation_fraction: float
) -> int:
    """Refuse bad arguments of :func:`make_split_cifar10`; return ``n_experiences``."""
    if not isinstance(data, CIFAR10Tensors):
        raise TypeError(f"data must be CIFAR10Tensors, got {type(data).__name__}")
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    n_classes = len(data.classes)
    n_experiences = _check_int("n_experiences", n_experiences, 1)
    if n_classes % n_experiences:
        raise ValueError(
            f"n_experiences must divide the {n_classes} classes, got {n_experiences}"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    if isinstance(validation_fraction, bool) or not isinstance(
        validation_fraction, (int, float)
    ):
        raise TypeError(
            f"validation_fraction must be a float, got {validation_fraction!r}"
        )
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            f"validation_fraction must be in [0, 1), got {validation_fraction}"
        )
    return n_experiences


def _split_rows(
    data: CIFAR10Tensors,
    train_per_class: int | None,
    test_per_class: int | None,
    validation_fraction: float,
    rng_seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded per-class subsets of train and test, and the validation share of train."""
    n_classes = len(data.classes)

    def rows_for(y: torch.Tensor, per_class: int | None, name: str) -> torch.Tensor:
        if per_class is None:
            return torch.arange(len(y))
        _check_int(name, per_class, 1)
        counts = torch.bincount(y, minlength=n_classes)
        if per_class > int(counts.min()):
            raise ValueError(
                f"{name}={per_class} exceeds the smallest class "
                f"({int(counts.min())} samples)"
            )
        return subset_indices_per_class(y, per_class, rng_seed)

    train_rows = rows_for(data.y_train, train_per_class, "train_per_class")
    test_rows = rows_for(data.y_test, test_per_class, "test_per_class")
    train_rows, valid_rows = _split_validation(
        data.y_train, train_rows, validation_fraction, rng_seed + 1
    )
    return train_rows, valid_rows, test_rows


def _experience_streams(
    data: CIFAR10Tensors,
    setting: str,
    exp_classes: list[list[int]],
    rows: dict[str, torch.Tensor],
) -> dict[str, list[TaskAwareSupervisedClassificationDataset]]:
    """One dataset per experience and stream; task-IL remaps labels to 0..k-1 per task."""
    n_classes = len(data.classes)
    banks = {
        "train": _Bank(data.x_train, data.y_train),
        "test": _Bank(data.x_test, data.y_test),
    }
    banks["valid"] = banks["train"]
    streams: dict[str, list[TaskAwareSupervisedClassificationDataset]] = {
        "train": [],
        "valid": [],
        "test": [],
    }
    for e, classes in enumerate(exp_classes):
        cls = torch.tensor(classes)
        if setting == "class_il":
            remap, task = torch.arange(n_classes), 0
        else:
            remap = torch.full((n_classes,), -1, dtype=torch.int64)
            remap[cls] = torch.arange(len(classes))
            task = e
        for name in ("train", "valid", "test"):
            bank, sel_rows = banks[name], rows[name]
            sel = sel_rows[torch.isin(bank.y[sel_rows], cls)]
            streams[name].append(bank.dataset(sel, remap, task))
    return streams


# --------------------------------------------------------------------------
# Reading experiences back as tensors


class _Unsupported(Exception):
    """Dataset structure the fast path does not understand."""


def _index_array(indices: Any) -> np.ndarray:
    if isinstance(indices, LazyRange):
        start = indices._start + indices._offset
        return np.arange(start, start + len(indices), dtype=np.int64)
    if isinstance(indices, LazyIndices):
        indices._to_eager()
        return np.asarray(indices._eager_list, dtype=np.int64)
    return np.asarray(indices, dtype=np.int64)


def _take_rows(x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
    """``x[idx]``; via ``np.take`` for CPU tensors, whose fresh allocation
    is several times faster here than torch's for 100 MB results."""
    if x.device.type == "cpu" and not x.requires_grad and x.is_contiguous():
        try:
            return torch.from_numpy(np.take(x.numpy(), idx, axis=0))
        except TypeError:  # dtype numpy lacks (e.g. bfloat16)
            pass
    return x[torch.from_numpy(idx).to(x.device)]


def _gather(node: Any, idx: np.ndarray, group: str | None, kind: str) -> torch.Tensor:
    """Values of rows ``idx`` of ``node`` (a FlatData tree).

    ``kind="x"`` reads the first tensor of ``TensorDataset`` leaves (after
    checking no transform applies); ``kind="attr"`` reads attribute leaves
    (lists, ``ConstantSequence``).
    """
    if isinstance(node, ConstantSequence):
        return torch.full((len(idx),), node[0], dtype=torch.int64)
    if isinstance(node, FlatData):
        if isinstance(node, _FlatDataWithTransform):
            for groups in (node._transform_groups, node._frozen_transform_groups):
                if (
                    groups is not None
                    and groups.transform_groups.get(group) is not None
                ):
                    raise _Unsupported("transforms")
        if node._indices is not None:
            idx = _index_array(node._indices)[idx]
        subs = node._datasets
        if len(subs) == 1:
            return _gather(subs[0], idx, group, kind)
        cum = np.asarray(node._cumulative_sizes, dtype=np.int64)
        which = np.searchsorted(cum, idx, side="right")
        starts = np.concatenate(([0], cum[:-1]))
        out: torch.Tensor | None = None
        for d in np.unique(which).tolist():
            mask = which == d
            part = _gather(subs[d], idx[mask] - starts[d], group, kind)
            if out is None:
                out = part.new_empty((len(idx), *part.shape[1:]))
            out[torch.from_numpy(mask)] = part
        if out is None:
            raise _Unsupported("empty")
        return out
    if kind == "x" and isinstance(node, TensorDataset):
        return _take_rows(node.tensors[0], idx)
    if kind == "attr":
        if isinstance(node, DataAttribute):
            return _gather(node.data, idx, group, kind)
        if isinstance(node, (list, tuple, np.ndarray, torch.Tensor)):
            values = torch.as_tensor(np.asarray(node), dtype=torch.int64)
            return values[torch.from_numpy(idx)]
    raise _Unsupported(type(node).__name__)


def _slow_stream_tensors(
    dataset: Dataset[Any],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    xs, ys, ts = [], [], []
    for x, y, t in DataLoader(dataset, batch_size=1024, shuffle=False):
        xs.append(x)
        ys.append(torch.as_tensor(y, dtype=torch.int64))
        ts.append(torch.as_tensor(t, dtype=torch.int64))
    return torch.cat(xs).float(), torch.cat(ys), torch.cat(ts)


def stream_tensors(
    dataset: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return an experience dataset as ``(x float32, y int64, t int64)``.

    Same contents and order as iterating ``dataset`` (``(x, y, t)`` samples).
    Fast path: Avalanche datasets are trees of ``FlatData`` nodes holding
    index lists over their children; the row indices are composed with numpy
    down to the ``TensorDataset`` leaves and ``x`` is read by one tensor
    gather per leaf, ``y``/``t`` the same way from the ``targets`` and
    ``targets_task_labels`` data attributes. This holds for the datasets
    built by :func:`make_split_cifar10` and anything Avalanche derives from
    them by subset/concat/train()/eval(). If a transform applies or a leaf is
    not a tensor dataset, falls back to iterating with a ``DataLoader``.
    Nothing is cached: each call gathers afresh (no stale copies).
    """
    if len(dataset) == 0:
        return (
            torch.empty(0, dtype=torch.float32),
            torch.empty(0, dtype=torch.int64),
            torch.empty(0, dtype=torch.int64),
        )
    try:
        flat = dataset._flat_data
        group = flat._transform_groups.current_group
        idx = np.arange(len(dataset), dtype=np.int64)
        x = _gather(flat, idx, group, "x")
        y = _gather(dataset.targets.data, idx, None, "attr")
        t = _gather(dataset.targets_task_labels.data, idx, None, "attr")
    except (_Unsupported, AttributeError):
        return _slow_stream_tensors(dataset)
    return x.to(torch.float32), y, t


# --------------------------------------------------------------------------
# Synthetic stand-in


def synthetic_tensors(
    n_train_per_class: int = 20, n_test_per_class: int = 10, seed: int = 0
) -> CIFAR10Tensors:
    """Random CIFAR-10-shaped data (standard-normal images, balanced
    classes in a seeded shuffled order) for tests that must not need the
    real data set."""
    _check_int("n_train_per_class", n_train_per_class, 1)
    _check_int("n_test_per_class", n_test_per_class, 1)
    gen = torch.Generator().manual_seed(int(seed))

    def split(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(10).repeat_interleave(per_class)
        y = y[torch.randperm(len(y), generator=gen)]
        x = torch.randn(len(y), 3, 32, 32, generator=gen)
        return x, y

    x_train, y_train = split(n_train_per_class)
    x_test, y_test = split(n_test_per_class)
    return CIFAR10Tensors(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        classes=[f"class{i}" for i in range(10)],
    )
