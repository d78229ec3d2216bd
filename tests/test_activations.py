"""Isotropic activations: equivariance, exactness at zero, Lipschitz slope (doc §1-2)."""

import pytest
import torch

from isocl.nn.activations import SHAPES, ElementwiseActivation, IsotropicActivation, isotropic
from isocl.nn.testing import InvarianceError, assert_equivariant

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_isotropic_is_orthogonally_equivariant(shape, dtype):
    gen = torch.Generator().manual_seed(0)
    err = assert_equivariant(lambda h: isotropic(h, None, shape)[0], 12, dtype=dtype, generator=gen)
    assert err < (1e-12 if dtype == torch.float64 else 1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_twin_is_not_equivariant(dtype):
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(InvarianceError, match="f\\(Qh\\) != Q f\\(h\\)"):
        assert_equivariant(ElementwiseActivation("tanh"), 12, dtype=dtype, generator=gen)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_zero_input_gives_zero_and_finite_gradients(shape, dtype):
    h = torch.zeros(4, 7, dtype=dtype, requires_grad=True)
    o = torch.zeros((), dtype=dtype, requires_grad=True)
    a, a_o = isotropic(h, o, shape)
    (a.sum() + a_o.sum()).backward()
    assert torch.equal(a, torch.zeros_like(a))
    assert torch.isfinite(h.grad).all() and torch.isfinite(o.grad).all()
    # f'(0) = s'(0) I = I for every shape: the gradient of sum(a) is all ones.
    assert torch.allclose(h.grad, torch.ones_like(h))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_series_branch_matches_closed_form(shape):
    # Just below and above the switch radius the two branches agree to rounding.
    for r in (0.99e-4, 1.01e-4, 1e-3, 1.0, 30.0):
        h = torch.tensor([[r, 0.0]], dtype=torch.float64)
        ratio = isotropic(h, None, shape)[0][0, 0] / r
        exact = {"tanh": torch.tanh, "softsign": lambda t: t / (1 + t), "log1p": torch.log1p, "asinh": torch.asinh}[shape](
            torch.tensor(r, dtype=torch.float64)) / r
        assert abs(float(ratio - exact)) < 1e-13


def test_intrinsic_length_enters_the_radius():
    h = torch.tensor([[3.0, 0.0]], dtype=torch.float64)
    o = torch.tensor(4.0, dtype=torch.float64)
    a, a_o = isotropic(h, o, "tanh")
    ratio = torch.tanh(torch.tensor(5.0, dtype=torch.float64)) / 5.0
    assert torch.allclose(a, ratio * h, atol=1e-15, rtol=0)
    assert torch.allclose(a_o, ratio * o.reshape(1, 1), atol=1e-15, rtol=0)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_isotropic_is_one_lipschitz(shape):
    gen = torch.Generator().manual_seed(1)
    x = 3 * torch.randn(2000, 6, dtype=torch.float64, generator=gen)
    y = x + 0.5 * torch.randn(2000, 6, dtype=torch.float64, generator=gen)
    fx, fy = isotropic(x, None, shape)[0], isotropic(y, None, shape)[0]
    ratio = (fx - fy).norm(dim=1) / (x - y).norm(dim=1)
    assert float(ratio.max()) <= 1.0 + 1e-12


def test_module_forms_and_unknown_shape():
    h = torch.randn(3, 5)
    assert torch.equal(IsotropicActivation("tanh")(h), isotropic(h)[0])
    assert torch.equal(ElementwiseActivation("tanh")(h), torch.tanh(h))
    with pytest.raises(ValueError, match="unknown activation shape 'relu'"):
        IsotropicActivation("relu")
