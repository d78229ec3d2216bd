"""[scenario] augment = "crop-flip": batch augmentation, bit-identical per seed, for every strategy."""

from __future__ import annotations

import pytest
import torch

from isocl.bench.augment import AugmentPlugin, augmentation_plugins, black_fill, crop_flip
from isocl.bench.config import AUGMENTATIONS, ConfigError, parse_benchmark
from isocl.bench.runner import run_unit
from isocl.bench.scenarios import build_scenario
from isocl.bench.scenarios import stream_tensors, synthetic_tensors

FILL = torch.tensor([-1.0, -2.0, -3.0])


def _padded(img: torch.Tensor, p: int = 4) -> torch.Tensor:
    out = FILL.view(3, 1, 1).repeat(1, 32 + 2 * p, 32 + 2 * p)
    out[:, p:p + 32, p:p + 32] = img
    return out


def _placement(img: torch.Tensor, out: torch.Tensor) -> list[tuple[int, int, bool]]:
    """Every (row offset, column offset, flipped) whose crop of the padded image equals ``out``."""
    p = _padded(img)
    hits = []
    for i in range(9):
        for j in range(9):
            crop = p[:, i:i + 32, j:j + 32]
            hits += [(i, j, False)] * torch.equal(crop, out) + [(i, j, True)] * torch.equal(crop.flip(2), out)
    return hits


def test_crop_flip_is_a_padded_crop_or_its_mirror_per_image():
    x = torch.randn(48, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    y = crop_flip(x, torch.Generator().manual_seed(0), 4, FILL)
    placements = [_placement(a, b) for a, b in zip(x, y)]
    assert all(len(p) == 1 for p in placements)  # random images: exactly one placement each
    offsets = {(i, j) for (i, j, _), in placements}
    flips = sum(f for (_, _, f), in placements)
    assert len(offsets) > 20  # offsets drawn per image from 81
    assert 10 <= flips <= 38  # about half mirrored (binomial(48, 1/2): outside 10..38 has p < 1e-7)
    # the border pixels of a shifted crop are the black fill of their channel
    i, j, _ = placements[0][0]
    if i == 0:
        assert torch.equal(y[0, :, :4, :], FILL.view(3, 1, 1).expand(3, 4, 32))


def test_crop_flip_same_generator_seed_is_bit_identical_and_another_differs():
    x = torch.randn(16, 3, 32, 32)
    a = crop_flip(x, torch.Generator().manual_seed(7))
    b = crop_flip(x, torch.Generator().manual_seed(7))
    c = crop_flip(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_black_fill_is_zero_pixel_in_normalised_units():
    fill = black_fill((0.5, 0.25, 0.0), (0.25, 0.5, 1.0))
    assert torch.allclose(fill, torch.tensor([-2.0, -0.5, 0.0]))


def test_plugin_augments_the_strategy_batch_and_ers_buffer_batch():
    class Strat:
        pass

    s = Strat()
    x, buf = torch.randn(5, 3, 32, 32), torch.randn(3, 3, 32, 32)
    s.mbatch, s.mb_buffer_x = [x.clone(), torch.zeros(5), torch.zeros(5)], buf.clone()
    AugmentPlugin(seed=0).before_forward(s)
    assert s.mbatch[0].shape == x.shape and not torch.equal(s.mbatch[0], x)
    assert s.mb_buffer_x.shape == buf.shape and not torch.equal(s.mb_buffer_x, buf)


def test_augmentation_names_and_refusal():
    assert [type(p).__name__ for p in augmentation_plugins("crop-flip", 0)] == ["AugmentPlugin"]
    assert augmentation_plugins("none", 0) == []
    assert set(AUGMENTATIONS) == {"none", "crop-flip"}
    with pytest.raises(ConfigError, match=r"scenario.augment = 'flip' is invalid; expected 'none' or 'crop-flip'"):
        parse_benchmark({"name": "x", "strategies": ["naive"], "scenario": {"augment": "flip"}})


def _bench(strategy: str, augment: str, kind: str = "cnn", **training):
    model = {"kind": "cnn", "channels": [4, 4], "widths": [8]} if kind == "cnn" else {"kind": kind}
    return parse_benchmark({
        "name": "aug", "strategies": [strategy], "twins": False, "controls": False,
        "scenario": {"n_experiences": 2, "validation_fraction": 0.0, "augment": augment},
        "training": {"epochs": 1, "batch_size": 16, **training}, "model": model,
    })


@pytest.fixture(scope="module")
def tiny():
    return synthetic_tensors(8, 4, seed=3)


@pytest.mark.parametrize("strategy", ["naive", "neuro-grow-prune"])
def test_augmented_units_are_bit_identical_on_rerun_and_differ_from_plain(tiny, strategy):
    bench = _bench(strategy, "crop-flip")
    first = run_unit(bench, strategy, 0, scenario=build_scenario(bench, tiny, 0))
    again = run_unit(bench, strategy, 0, scenario=build_scenario(bench, tiny, 0))
    plain_bench = _bench(strategy, "none")
    plain = run_unit(plain_bench, strategy, 0, scenario=build_scenario(plain_bench, tiny, 0))
    assert first.status == again.status == plain.status == "ok", (first.error, plain.error)
    losses = [r["loss"] for r in first.matrix]
    assert losses == [r["loss"] for r in again.matrix]  # bit-identical
    assert losses != [r["loss"] for r in plain.matrix]  # and the augmentation did act


# Strategies whose buffer images go through a training forward pass: each must see them augmented like the
# current images. Un-augmented buffer rows beside augmented current rows teach a shortcut (no black border:
# an old class), which wrecks the new task's test accuracy (DER++ before the fix: 14% on the second task of
# the CPU CNN comparison while it trained to 73%).
BUFFER_STRATEGIES = ["replay", "der", "er-ace", "agem", "gdumb", "icarl", "bic", "neuro-grow-prune-replay"]


@pytest.mark.parametrize("strategy", BUFFER_STRATEGIES)
def test_every_training_forward_sees_augmented_images_buffer_included(tiny, strategy, monkeypatch):
    import isocl.bench.context as context_mod

    bench = _bench(strategy, "crop-flip", **({"batch_size": 8} if strategy == "agem" else {}))
    scenario = build_scenario(bench, tiny, 0)
    raw = {bytes(img.numpy().tobytes()) for exp in scenario.train_stream
           for img in stream_tensors(exp.dataset)[0]}
    seen = []

    real_template = context_mod.StrategyContext.template

    def template(self, model, *args, **kwargs):
        net = getattr(model, "backbone", model)  # iCaRL calls the backbone and the head itself
        net.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach().clone()) if m.training else None)
        return real_template(self, model, *args, **kwargs)

    monkeypatch.setattr(context_mod.StrategyContext, "template", template)
    result = run_unit(bench, strategy, 0, scenario=scenario)
    assert result.status == "ok", result.error
    rows = torch.cat([x for x in seen if x.dim() == 4])
    untouched = sum(bytes(img.numpy().tobytes()) in raw for img in rows)
    # a crop at the centre without a flip leaves an image as it was: 1 in 162
    assert len(rows) > 0 and untouched <= max(2, 0.05 * len(rows)), (untouched, len(rows))
