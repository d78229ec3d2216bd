"""Tests for isocl.bench.scenarios: Split CIFAR-10 benchmarks and stream_tensors."""

from __future__ import annotations

import time
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from isocl.bench import scenarios
from isocl.bench.data import CIFAR10Tensors
from isocl.bench.scenarios import make_split_cifar10, stream_tensors, synthetic_tensors

N_TRAIN, N_TEST = 20, 10


@pytest.fixture(scope="module")
def synth() -> CIFAR10Tensors:
    return synthetic_tensors(N_TRAIN, N_TEST, seed=0)


def _rows_of(x: torch.Tensor, bank: torch.Tensor) -> list[int]:
    """Row index in ``bank`` of each sample of ``x`` (first exact match)."""
    a, b = x.flatten(1)[:, :32], bank.flatten(1)[:, :32]
    eq = (a[:, None, :] == b[None, :, :]).all(-1)
    assert eq.any(1).all(), "sample not found in bank"
    return eq.int().argmax(1).tolist()


def _via_loader(ds) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y, t = next(iter(DataLoader(ds, batch_size=len(ds), shuffle=False)))
    return x, y, t


# --------------------------------------------------------------------------
# Class-incremental


def test_class_il_structure(synth: CIFAR10Tensors) -> None:
    bm = make_split_cifar10(synth, setting="class_il", class_order=list(range(10)))
    assert bm.n_classes == 10
    assert bm.n_experiences == 5
    assert not hasattr(bm, "valid_stream")
    assert len(bm.train_stream) == len(bm.test_stream) == 5
    for e, (tr, te) in enumerate(zip(bm.train_stream, bm.test_stream, strict=True)):
        assert tr.current_experience == te.current_experience == e
        assert tr.classes_in_this_experience == [2 * e, 2 * e + 1]
        assert te.classes_in_this_experience == [2 * e, 2 * e + 1]
        assert tr.previous_classes == list(range(2 * e))
        assert tr.task_label == 0 and tr.task_labels == [0]
        assert len(tr.dataset) == 2 * N_TRAIN and len(te.dataset) == 2 * N_TEST
        x, y, t = _via_loader(tr.dataset)
        assert x.shape == (2 * N_TRAIN, 3, 32, 32) and x.dtype == torch.float32
        assert y.dtype == t.dtype == torch.int64
        assert torch.bincount(y, minlength=10).tolist() == [
            N_TRAIN if c in (2 * e, 2 * e + 1) else 0 for c in range(10)
        ]
        assert t.tolist() == [0] * len(t)
        # Samples are the original rows, labels the original (global) ids.
        rows = _rows_of(x, synth.x_train)
        assert rows == sorted(rows)
        assert torch.equal(synth.y_train[rows], y)
        assert torch.equal(synth.x_train[rows], x)


def test_class_order_fixed_seeded_natural(synth: CIFAR10Tensors) -> None:
    order = [3, 8, 1, 0, 9, 2, 7, 5, 4, 6]
    bm = make_split_cifar10(synth, setting="class_il", class_order=order)
    assert bm.classes_order == order
    assert [exp.classes_in_this_experience for exp in bm.train_stream] == [
        [3, 8],
        [0, 1],
        [2, 9],
        [5, 7],
        [4, 6],
    ]
    assert bm.original_classes_in_exp == [[3, 8], [1, 0], [9, 2], [7, 5], [4, 6]]
    s0a = make_split_cifar10(synth, setting="class_il", seed=0).classes_order
    s0b = make_split_cifar10(synth, setting="class_il", seed=0).classes_order
    s1 = make_split_cifar10(synth, setting="class_il", seed=1).classes_order
    assert s0a == s0b and sorted(s0a) == list(range(10))
    assert s1 != s0a
    natural = make_split_cifar10(synth, setting="class_il", seed=None)
    assert natural.classes_order == list(range(10))
    # Own generator: the global torch RNG is left alone.
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_split_cifar10(synth, setting="class_il", seed=5, validation_fraction=0.2)
    assert torch.equal(torch.rand(3), expected)


def test_other_experience_counts(synth: CIFAR10Tensors) -> None:
    for n_exp, k in ((1, 10), (2, 5), (10, 1)):
        bm = make_split_cifar10(synth, setting="class_il", n_experiences=n_exp)
        assert len(bm.train_stream) == n_exp
        assert [len(exp.classes_in_this_experience) for exp in bm.train_stream] == [
            k
        ] * n_exp
        assert sum(len(exp.dataset) for exp in bm.train_stream) == 10 * N_TRAIN


# --------------------------------------------------------------------------
# Task-incremental


def test_task_il_labels_and_local_class_ids(synth: CIFAR10Tensors) -> None:
    bm = make_split_cifar10(synth, setting="task_il", seed=7)
    assert bm.n_classes == 10
    for stream, bank_x, bank_y, n in (
        (bm.train_stream, synth.x_train, synth.y_train, N_TRAIN),
        (bm.test_stream, synth.x_test, synth.y_test, N_TEST),
    ):
        for e, exp in enumerate(stream):
            assert exp.task_label == e and exp.task_labels == [e]
            assert exp.classes_in_this_experience == [0, 1]
            x, y, t = _via_loader(exp.dataset)
            assert t.tolist() == [e] * (2 * n)
            assert torch.bincount(y).tolist() == [n, n]
            # Local id j <-> j-th class of the experience in the class order.
            original = bank_y[_rows_of(x, bank_x)]
            mapping = torch.tensor(bm.original_classes_in_exp[e])
            assert torch.equal(mapping[y], original)
            assert bm.original_classes_in_exp[e] == bm.classes_order[2 * e : 2 * e + 2]


# --------------------------------------------------------------------------
# Validation stream


@pytest.mark.parametrize("setting", ["class_il", "task_il"])
def test_validation_stream(synth: CIFAR10Tensors, setting: str) -> None:
    frac = 0.25
    plain = make_split_cifar10(synth, setting=setting, seed=3)
    bm = make_split_cifar10(synth, setting=setting, seed=3, validation_fraction=frac)
    assert len(bm.valid_stream) == 5
    n_val_per_class = int(frac * N_TRAIN)  # 5
    for e, (tr, va, tr_full) in enumerate(
        zip(bm.train_stream, bm.valid_stream, plain.train_stream, strict=True)
    ):
        assert len(va.dataset) == 2 * n_val_per_class
        assert len(tr.dataset) == 2 * (N_TRAIN - n_val_per_class)
        assert va.task_labels == tr.task_labels == [e if setting == "task_il" else 0]
        assert va.classes_in_this_experience == tr.classes_in_this_experience
        xt, yt, _ = stream_tensors(tr.dataset)
        xv, yv, tv = stream_tensors(va.dataset)
        assert torch.unique(yv, return_counts=True)[1].tolist() == [n_val_per_class] * 2
        assert (
            torch.unique(yt, return_counts=True)[1].tolist()
            == [N_TRAIN - n_val_per_class] * 2
        )
        assert set(tv.tolist()) == {e if setting == "task_il" else 0}
        rows_t = set(_rows_of(xt, synth.x_train))
        rows_v = set(_rows_of(xv, synth.x_train))
        assert not rows_t & rows_v
        assert rows_t | rows_v == set(
            _rows_of(stream_tensors(tr_full.dataset)[0], synth.x_train)
        )
    # The test stream is untouched.
    for te, te_plain in zip(bm.test_stream, plain.test_stream, strict=True):
        a, b = stream_tensors(te.dataset), stream_tensors(te_plain.dataset)
        assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    # Seeded: the same split again.
    again = make_split_cifar10(synth, setting=setting, seed=3, validation_fraction=frac)
    assert torch.equal(
        stream_tensors(again.valid_stream[2].dataset)[0],
        stream_tensors(bm.valid_stream[2].dataset)[0],
    )


def test_per_class_subsampling(synth: CIFAR10Tensors) -> None:
    bm = make_split_cifar10(
        synth,
        setting="class_il",
        train_per_class=6,
        test_per_class=3,
        validation_fraction=0.5,
    )
    assert [len(exp.dataset) for exp in bm.train_stream] == [6] * 5
    assert [len(exp.dataset) for exp in bm.valid_stream] == [6] * 5
    assert [len(exp.dataset) for exp in bm.test_stream] == [6] * 5


# --------------------------------------------------------------------------
# Argument validation


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"setting": "domain_il"}, ValueError, "setting must be one of"),
        (
            {"n_experiences": 3},
            ValueError,
            "n_experiences must divide the 10 classes, got 3",
        ),
        ({"n_experiences": 0}, ValueError, "n_experiences must be >= 1, got 0"),
        ({"n_experiences": 2.5}, TypeError, "n_experiences must be an int"),
        (
            {"class_order": [0] * 10},
            ValueError,
            r"class_order must be a permutation of 0\.\.9",
        ),
        (
            {"class_order": list(range(9))},
            ValueError,
            "class_order must be a permutation",
        ),
        (
            {"class_order": list(range(1, 11))},
            ValueError,
            "class_order must be a permutation",
        ),
        (
            {"validation_fraction": 1.0},
            ValueError,
            r"validation_fraction must be in \[0, 1\), got 1.0",
        ),
        ({"validation_fraction": -0.1}, ValueError, "validation_fraction must be in"),
        (
            {"validation_fraction": "0.1"},
            TypeError,
            "validation_fraction must be a float",
        ),
        (
            {"train_per_class": 21},
            ValueError,
            r"train_per_class=21 exceeds the smallest class \(20 samples\)",
        ),
        ({"test_per_class": 0}, ValueError, "test_per_class must be >= 1, got 0"),
        ({"seed": "1"}, TypeError, "seed must be an int or None"),
    ],
)
def test_invalid_arguments(
    synth: CIFAR10Tensors, kwargs: dict, exc: type, pattern: str
) -> None:
    kwargs = {"setting": "class_il", **kwargs}
    with pytest.raises(exc, match=pattern):
        make_split_cifar10(synth, **kwargs)


def test_data_must_be_tensors() -> None:
    with pytest.raises(TypeError, match="data must be CIFAR10Tensors"):
        make_split_cifar10({"x": 1}, setting="class_il")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# stream_tensors


def test_stream_tensors_matches_iteration(
    synth: CIFAR10Tensors, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fallback(ds):
        raise AssertionError("fast path not taken")

    # These datasets must all take the fast (index-following) path.
    monkeypatch.setattr(scenarios, "_slow_stream_tensors", no_fallback)
    bm = make_split_cifar10(synth, setting="task_il", validation_fraction=0.2)
    ds0 = bm.train_stream[0].dataset
    ds3 = bm.test_stream[3].dataset
    candidates = [
        ds0,
        ds0.eval(),
        ds0.train(),
        bm.valid_stream[4].dataset,
        ds0.concat(ds3),  # mixed banks and task labels, as replay would
        ds0.concat(ds3).subset([50, 3, 41, 0, 7]),
    ]
    for ds in candidates:
        x, y, t = stream_tensors(ds)
        xl, yl, tl = _via_loader(ds)
        assert x.dtype == torch.float32 and y.dtype == t.dtype == torch.int64
        assert torch.equal(x, xl) and torch.equal(y, yl) and torch.equal(t, tl)
    _, y, t = stream_tensors(ds0.concat(ds3).subset([50, 3, 41, 0, 7]))
    assert t.tolist() == [3, 0, 3, 0, 0]
    empty = stream_tensors(ds0.subset([]))
    assert [len(v) for v in empty] == [0, 0, 0]


def test_stream_tensors_falls_back_when_transformed(synth: CIFAR10Tensors) -> None:
    bm = make_split_cifar10(synth, setting="class_il")
    ds = bm.train_stream[1].dataset
    doubled = ds.replace_current_transform_group(lambda x: x * 2)
    x, y, t = stream_tensors(doubled)
    x0, y0, t0 = stream_tensors(ds)
    assert torch.equal(x, 2 * x0) and torch.equal(y, y0) and torch.equal(t, t0)


# --------------------------------------------------------------------------
# Avalanche strategies accept the benchmarks


@pytest.mark.parametrize("setting", ["class_il", "task_il"])
def test_naive_strategy_runs(synth: CIFAR10Tensors, setting: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from avalanche.models import (
            IncrementalClassifier,
            MultiHeadClassifier,
            MultiTaskModule,
        )
        from avalanche.training import Naive
        from avalanche.training.plugins import EvaluationPlugin

    class CIL(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(3072, 8), nn.ReLU())
            self.head = IncrementalClassifier(8, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x))

    class TIL(MultiTaskModule):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(3072, 8), nn.ReLU())
            self.head = MultiHeadClassifier(8, 2)

        def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
            return self.head(self.body(x), task_label)

    torch.manual_seed(0)
    bm = make_split_cifar10(synth, setting=setting, validation_fraction=0.25)
    model = CIL() if setting == "class_il" else TIL()
    strategy = Naive(
        model=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
        criterion=nn.CrossEntropyLoss(),
        train_mb_size=16,
        train_epochs=1,
        eval_mb_size=64,
        evaluator=EvaluationPlugin(loggers=[]),
    )
    for exp in bm.train_stream[:2]:
        strategy.train(exp, eval_streams=[bm.valid_stream[exp.current_experience]])
    strategy.eval(bm.test_stream[:2])
    if setting == "class_il":
        assert model.head.classifier.out_features == max(bm.classes_order[:4]) + 1
    else:
        assert sorted(model.head.classifiers.keys()) == ["0", "1"]
        assert all(
            h.classifier.out_features == 2 for h in model.head.classifiers.values()
        )


# --------------------------------------------------------------------------
# Real data


def test_real_split_counts(cifar10: CIFAR10Tensors) -> None:
    t0 = time.perf_counter()
    bm = make_split_cifar10(
        cifar10, setting="class_il", seed=0, validation_fraction=0.1
    )
    build = time.perf_counter() - t0
    assert [len(e.dataset) for e in bm.train_stream] == [9000] * 5
    assert [len(e.dataset) for e in bm.valid_stream] == [1000] * 5
    assert [len(e.dataset) for e in bm.test_stream] == [2000] * 5
    x, y, t = stream_tensors(bm.train_stream[0].dataset)  # warm-up
    test_all = bm.test_stream[0].dataset
    for exp in bm.test_stream[1:]:
        test_all = test_all.concat(exp.dataset)
    t0 = time.perf_counter()
    x, y, t = stream_tensors(test_all)
    elapsed = time.perf_counter() - t0
    print(f"build {build:.3f} s; stream_tensors on {len(x)} samples: {elapsed:.3f} s")
    assert x.shape == (10_000, 3, 32, 32)
    assert torch.bincount(y).tolist() == [1000] * 10
    assert torch.equal(x[:5], _via_loader(test_all.subset(range(5)))[0])

    small = make_split_cifar10(
        cifar10, setting="task_il", train_per_class=100, test_per_class=50
    )
    assert [len(e.dataset) for e in small.train_stream] == [200] * 5
    assert [len(e.dataset) for e in small.test_stream] == [100] * 5
    x, y, t = stream_tensors(small.train_stream[4].dataset)
    assert torch.bincount(y).tolist() == [100, 100] and set(t.tolist()) == {4}
    # Local ids map back to the original labels of the same images.
    orig = cifar10.y_train[_rows_of(x[:20], cifar10.x_train)]
    assert torch.equal(torch.tensor(small.original_classes_in_exp[4])[y[:20]], orig)


def test_scenario_carries_the_normalisation_the_augmentation_pads_with() -> None:
    from isocl.bench.augment import black_fill

    data = CIFAR10Tensors(x_train=torch.zeros(20, 3, 32, 32), y_train=torch.arange(10).repeat(2),
                          x_test=torch.zeros(10, 3, 32, 32), y_test=torch.arange(10),
                          mean=(0.5, 0.4, 0.3), std=(0.25, 0.2, 0.1), classes=[str(i) for i in range(10)])
    bm = make_split_cifar10(data, setting="class_il", n_experiences=5, seed=0)
    assert (bm.mean, bm.std) == ((0.5, 0.4, 0.3), (0.25, 0.2, 0.1))
    assert torch.allclose(black_fill(bm.mean, bm.std), torch.tensor([-2.0, -2.0, -3.0]))
