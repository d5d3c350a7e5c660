"""Attention against PyTorch: scaled_dot_product_attention against F.scaled_dot_product_attention
(whose boolean mask means the opposite, so it gets ~mask), MultiheadAttention against
nn.MultiheadAttention(batch_first=True) with the same weights copied through the documented layout;
values and the gradients for every input and parameter, with and without masks, fully masked rows
included. Also gradcheck in both modes, random sizes, initialisation and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import dp
from dp import Node
from dp.nn.attention import MultiheadAttention, scaled_dot_product_attention

TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def random_mask(shape, rng, fully_masked_rows=False):
    """A boolean mask, True = may not attend; each query row keeps a key unless asked otherwise."""
    mask = rng.random(shape) < 0.4
    mask[..., rng.integers(shape[-1])] = False
    if fully_masked_rows:
        mask[..., 0, :] = True
    return mask


def assert_gradients_match(grads, tensors, dtype):
    for name, tensor in tensors.items():
        assert grads[name].dtype == dtype, name
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), **TOLERANCE[dtype], err_msg=name)


# --------------------------------------------------------------------------------------------
# scaled_dot_product_attention


def compare_sdpa(q, k, v, mask, dtype, seed=0):
    inputs = {"q": q.astype(dtype), "k": k.astype(dtype), "v": v.astype(dtype)}
    out = scaled_dot_product_attention(*(Node(x, name) for name, x in inputs.items()), mask)
    out_seed = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    grads = (out * out_seed).sum().grad(1)
    tensors = {name: torch.tensor(x, requires_grad=True) for name, x in inputs.items()}
    expected = F.scaled_dot_product_attention(
        *tensors.values(), attn_mask=None if mask is None else ~torch.tensor(mask)
    )
    (expected * torch.tensor(out_seed)).sum().backward()
    assert out.dtype == dtype
    np.testing.assert_allclose(out.value, expected.detach().numpy(), **TOLERANCE[dtype])
    assert_gradients_match(grads, tensors, dtype)
    return out, grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("masking", ["none", "random", "causal", "fully masked rows"])
# q (..., L, d), k (..., S, d), v (..., S, dv)
@pytest.mark.parametrize(
    "shapes", [((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)), ((1, 1, 3), (1, 1, 3), (1, 1, 1)), ((5, 2), (3, 2), (3, 4))]
)
def test_sdpa_matches_pytorch(dtype, masking, shapes):
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal(shape) for shape in shapes)
    L, S = shapes[0][-2], shapes[1][-2]
    mask = {
        "none": None,
        "random": random_mask((L, S), rng),
        "causal": np.triu(np.ones((L, S), bool), 1) if L <= S else None,
        "fully masked rows": random_mask((L, S), rng, fully_masked_rows=True),
    }[masking]
    compare_sdpa(q, k, v, mask, dtype)


def test_sdpa_fully_masked_rows_give_zeros_and_no_gradient():
    """dp gives 0 there, as F.scaled_dot_product_attention does (nn.MultiheadAttention gives NaN)."""
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 3))
    mask = random_mask((4, 5), rng, fully_masked_rows=True)
    out, grads = compare_sdpa(q, k, v, mask, np.float64)
    np.testing.assert_array_equal(out.value[:, 0], 0)
    np.testing.assert_array_equal(grads["q"][:, 0], 0)
    assert np.all(np.isfinite(grads["k"])) and np.all(np.isfinite(grads["v"]))


def test_sdpa_mask_broadcasts_over_leading_axes():
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((2, 3, 4, 2)), rng.standard_normal((2, 1, 5, 2)), rng.standard_normal((1, 3, 5, 2))
    compare_sdpa(q, k, v, random_mask((2, 1, 4, 5), rng), np.float64)


def test_sdpa_masked_keys_take_no_part():
    """Masked keys and values can be anything, even huge: the result is that of the others alone."""
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    mask = np.zeros((3, 4), bool)
    mask[:, 1] = True
    changed_k, changed_v = k.copy(), v.copy()
    changed_k[1], changed_v[1] = 1e30, -1e30
    np.testing.assert_array_equal(
        scaled_dot_product_attention(q, changed_k, changed_v, mask).value,
        scaled_dot_product_attention(q, k, v, mask).value,
    )
    np.testing.assert_allclose(
        scaled_dot_product_attention(q, k, v, mask).value,
        scaled_dot_product_attention(q, np.delete(k, 1, 0), np.delete(v, 1, 0)).value,
        rtol=1e-14,
    )


def test_sdpa_scale():
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    expected = F.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v), scale=0.3)
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v, scale=0.3).value, expected.numpy(), rtol=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_sdpa_gradcheck_both_modes(masked):
    rng = np.random.default_rng(6)
    q, k, v = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 4, 3))
    mask = random_mask((3, 4), rng, fully_masked_rows=True) if masked else None
    assert dp.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask), q, k, v)


# --------------------------------------------------------------------------------------------
# MultiheadAttention


def torch_twin(mha, dtype):
    """nn.MultiheadAttention with dp's weights: in_proj_weight = [Wq.T; Wk.T; Wv.T],
    in_proj_bias = [bq, bk, bv], out_proj.weight = Wo.T, out_proj.bias = bo."""
    twin = torch.nn.MultiheadAttention(mha.embed_dim, mha.num_heads, batch_first=True).to(TORCH_DTYPE[dtype])
    with torch.no_grad():
        twin.in_proj_weight.copy_(torch.tensor(np.concatenate([mha.Wq.value.T, mha.Wk.value.T, mha.Wv.value.T])))
        twin.in_proj_bias.copy_(torch.tensor(np.concatenate([mha.bq.value, mha.bk.value, mha.bv.value])))
        twin.out_proj.weight.copy_(torch.tensor(mha.Wo.value.T))
        twin.out_proj.bias.copy_(torch.tensor(mha.bo.value))
    return twin


def torch_gradients_in_dp_layout(twin, E):
    w, b = twin.in_proj_weight.grad.numpy(), twin.in_proj_bias.grad.numpy()
    return {
        "Wq": w[:E].T,
        "Wk": w[E : 2 * E].T,
        "Wv": w[2 * E :].T,
        "Wo": twin.out_proj.weight.grad.numpy().T,
        "bq": b[:E],
        "bk": b[E : 2 * E],
        "bv": b[2 * E :],
        "bo": twin.out_proj.bias.grad.numpy(),
    }


def make_mha(E, heads, dtype, rng):
    mha = MultiheadAttention(E, heads, rng=rng.integers(2**16), dtype=dtype)
    for key in ("bq", "bk", "bv", "bo"):  # PyTorch starts them at zero: make them count
        getattr(mha, key).value[...] = rng.standard_normal(E)
    return mha


def compare_mha(N, L, S, E, heads, mask, dtype, rng, self_attention=False):
    mha = make_mha(E, heads, dtype, rng)
    twin = torch_twin(mha, dtype)
    query = rng.standard_normal((N, L, E)).astype(dtype)
    key, value = (query, query) if self_attention else (rng.standard_normal((N, S, E)).astype(dtype) for _ in "kv")
    inputs = {"query": Node(query, "query")}
    if self_attention:
        out = mha(inputs["query"], inputs["query"], inputs["query"], mask)
    else:
        inputs.update(key=Node(key, "key"), value=Node(value, "value"))
        out = mha(*inputs.values(), mask=mask)
    out_seed = rng.standard_normal(out.shape).astype(dtype)
    grads = (out * out_seed).sum().grad(1)

    tensors = {name: torch.tensor(x.value, requires_grad=True) for name, x in inputs.items()}
    t_inputs = [tensors["query"]] * 3 if self_attention else list(tensors.values())
    t_mask = None if mask is None else torch.tensor(mask if mask.ndim == 2 else np.repeat(mask, heads, axis=0))
    expected, _ = twin(*t_inputs, attn_mask=t_mask)  # a mask (N, L, S) is PyTorch's (N * heads, L, S)
    (expected * torch.tensor(out_seed)).sum().backward()
    assert out.shape == (N, L, E) and out.dtype == dtype
    np.testing.assert_allclose(out.value, expected.detach().numpy(), **TOLERANCE[dtype])
    assert_gradients_match(grads, tensors, dtype)
    expected_grads = torch_gradients_in_dp_layout(twin, E)
    assert set(grads) == set(tensors) | set(expected_grads)
    for name, gradient in expected_grads.items():
        assert grads[name].dtype == dtype
        np.testing.assert_allclose(grads[name], gradient, **TOLERANCE[dtype], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N, L, S, E, heads", [(2, 4, 5, 6, 3), (1, 1, 1, 4, 4), (3, 3, 2, 5, 1), (2, 5, 5, 8, 2)])
@pytest.mark.parametrize("masking", ["none", "(L, S)", "causal", "(N, L, S)"])
def test_mha_matches_pytorch(dtype, N, L, S, E, heads, masking):
    rng = np.random.default_rng(7)
    mask = {
        "none": None,
        "(L, S)": random_mask((L, S), rng),
        "causal": np.triu(np.ones((L, S), bool), 1) if L <= S else None,
        "(N, L, S)": random_mask((N, L, S), rng),
    }[masking]
    compare_mha(N, L, S, E, heads, mask, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mha_self_attention_matches_pytorch(dtype):
    """One input as query, key and value: its gradient is the sum of the three."""
    rng = np.random.default_rng(8)
    compare_mha(2, 5, 5, 6, 2, np.triu(np.ones((5, 5), bool), 1), dtype, rng, self_attention=True)


@settings(max_examples=15)
@given(
    N=st.integers(1, 3),
    L=st.integers(1, 5),
    S=st.integers(1, 5),
    head_dim=st.integers(1, 3),
    heads=st.integers(1, 3),
    masked=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_mha_random_sizes_match_pytorch(N, L, S, head_dim, heads, masked, seed):
    rng = np.random.default_rng(seed)
    mask = random_mask((L, S), rng) if masked else None
    compare_mha(N, L, S, head_dim * heads, heads, mask, np.float64, rng)


def test_mha_fully_masked_rows():
    """A query that may attend to nothing gets bo (zero attention, then the output projection);
    checked against PyTorch's own parts, as its nn.MultiheadAttention gives NaN there."""
    rng = np.random.default_rng(9)
    N, L, S, E, heads = 2, 3, 4, 6, 2
    mha = make_mha(E, heads, np.float64, rng)
    query, key, value = (rng.standard_normal(shape) for shape in ((N, L, E), (N, S, E), (N, S, E)))
    mask = random_mask((L, S), rng, fully_masked_rows=True)
    out = mha(query, key, value, mask)
    np.testing.assert_allclose(out.value[:, 0], np.broadcast_to(mha.bo.value, (N, E)), rtol=1e-15)

    def split(x, W, b):
        return (
            F.linear(torch.tensor(x), torch.tensor(W.value.T), torch.tensor(b.value))
            .reshape(N, -1, heads, E // heads)
            .transpose(1, 2)
        )

    attended = F.scaled_dot_product_attention(
        split(query, mha.Wq, mha.bq),
        split(key, mha.Wk, mha.bk),
        split(value, mha.Wv, mha.bv),
        attn_mask=~torch.tensor(mask),
    )
    expected = F.linear(
        attended.transpose(1, 2).reshape(N, L, E), torch.tensor(mha.Wo.value.T), torch.tensor(mha.bo.value)
    )
    np.testing.assert_allclose(out.value, expected.numpy(), rtol=1e-12, atol=1e-14)
    grads = out.sum().grad(1)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


def test_mha_gradcheck_both_modes():
    mha = MultiheadAttention(4, 2, rng=10)
    keys = list(mha.parameters())
    rng = np.random.default_rng(11)
    mask = random_mask((2, 3), rng, fully_masked_rows=True)

    def f(query, key, value, *parameters):
        originals = [getattr(mha, name) for name in keys]
        try:
            for name, parameter in zip(keys, parameters):
                setattr(mha, name, parameter)
            return mha(query, key, value, mask)
        finally:
            for name, parameter in zip(keys, originals):
                setattr(mha, name, parameter)

    parameters = [getattr(mha, name).value + 0.1 * rng.standard_normal(getattr(mha, name).shape) for name in keys]
    assert dp.gradcheck(
        f, rng.standard_normal((1, 2, 4)), rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 3, 4)), *parameters
    )


def test_mha_second_order_matches_pytorch():
    """A Hessian-vector product through attention (d/dinputs of <grad wrt Wq, v>) against PyTorch."""
    rng = np.random.default_rng(13)
    mha = make_mha(4, 2, np.float64, rng)
    twin = torch_twin(mha, np.float64)
    query, key = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    mask = random_mask((3, 5), rng)
    v = rng.standard_normal((4, 4))
    inputs = {"query": Node(query, "query"), "key": Node(key, "key")}
    out = mha(inputs["query"], inputs["key"], inputs["key"], mask)
    first = (out * out).sum().grad(1, create_graph=True)
    second = (first["Wq"] * v).sum().grad(1)

    tensors = {name: torch.tensor(x.value, requires_grad=True) for name, x in inputs.items()}
    tout, _ = twin(tensors["query"], tensors["key"], tensors["key"], attn_mask=torch.tensor(mask))
    (tfirst,) = torch.autograd.grad((tout * tout).sum(), twin.in_proj_weight, create_graph=True)
    (tfirst[:4] * torch.tensor(v.T)).sum().backward()
    assert_gradients_match(second, tensors, np.float64)
    for name, gradient in torch_gradients_in_dp_layout(twin, 4).items():
        np.testing.assert_allclose(second[name], gradient, rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_docstring_example_runs():
    import doctest

    import dp.nn.attention

    results = doctest.testmod(dp.nn.attention)
    assert results.attempted > 0 and results.failed == 0


def test_mha_parameters_and_initialisation():
    E = 64
    mha = MultiheadAttention(E, 8, "attn", rng=12, dtype=np.float32)
    params = mha.parameters()
    assert list(params) == [f"attn.{key}" for key in ("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")]
    assert all(p.dtype == np.float32 for p in params.values())
    projection_bound, output_bound = np.sqrt(6 / (4 * E)), 1 / np.sqrt(E)  # PyTorch's
    for key, bound in (
        ("Wq", projection_bound),
        ("Wk", projection_bound),
        ("Wv", projection_bound),
        ("Wo", output_bound),
    ):
        W = params[f"attn.{key}"].value
        assert W.shape == (E, E) and np.all(np.abs(W) <= bound) and np.abs(W).max() > 0.95 * bound
    for key in ("bq", "bk", "bv", "bo"):
        np.testing.assert_array_equal(params[f"attn.{key}"].value, np.zeros(E, np.float32))
    assert mha.head_dim == 8
    assert repr(mha) == "MultiheadAttention(embed_dim=64, num_heads=8, name='attn')"
    x = np.ones((2, 3, E), np.float32)
    assert mha(x, x, x).dtype == np.float32


# --------------------------------------------------------------------------------------------
# Bad input


def test_embed_dim_must_be_divisible_by_num_heads():
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim \(10\) must be divisible by num_heads \(3\)"):
        MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="num_heads must be a positive integer, got 0"):
        MultiheadAttention(10, 0)


def test_mha_refuses_wrong_shapes():
    mha = MultiheadAttention(6, 2)
    name = r"MultiheadAttention\(embed_dim=6, num_heads=2\)"
    x, kv = np.ones((2, 4, 6)), np.ones((2, 5, 6))
    with pytest.raises(ValueError, match=rf"{name}: expected query of shape \(N, L, 6\) \(batch first\), got \(4, 6\)"):
        mha(np.ones((4, 6)), kv, kv)
    with pytest.raises(ValueError, match=r"expected query of shape \(N, L, 6\).*got \(2, 4, 5\)"):
        mha(np.ones((2, 4, 5)), kv, kv)
    with pytest.raises(
        ValueError, match=rf"{name}: expected key of shape \(N, S, 6\) with the query's N = 2, got \(3, 5, 6\)"
    ):
        mha(x, np.ones((3, 5, 6)), kv)
    with pytest.raises(ValueError, match=r"expected value of shape \(N, S, 6\).*got \(2, 5, 4\)"):
        mha(x, kv, np.ones((2, 5, 4)))
    with pytest.raises(ValueError, match=r"key and value must have the same shape .* got \(2, 5, 6\) and \(2, 3, 6\)"):
        mha(x, kv, np.ones((2, 3, 6)))


def test_mha_refuses_wrong_masks():
    mha = MultiheadAttention(6, 2)
    x, kv = np.ones((2, 4, 6)), np.ones((2, 5, 6))
    name = r"MultiheadAttention\(embed_dim=6, num_heads=2\)"
    with pytest.raises(
        TypeError, match=rf"{name}: the mask must be a boolean array \(True = may not attend\), got dtype float64"
    ):
        mha(x, kv, kv, np.zeros((4, 5)))
    with pytest.raises(TypeError, match="must be a boolean array.*got list"):
        mha(x, kv, kv, [[True] * 5] * 4)
    for shape in [(5, 4), (4,), (3, 4, 5), (2, 2, 4, 5)]:
        with pytest.raises(
            ValueError, match=rf"{name}: expected a mask of shape \(L, S\) = \(4, 5\) .* got \({shape[0]}"
        ):
            mha(x, kv, kv, np.zeros(shape, bool))


def test_sdpa_refuses_wrong_shapes_and_masks():
    q, k, v = np.ones((2, 3, 4)), np.ones((2, 5, 4)), np.ones((2, 5, 7))
    with pytest.raises(
        ValueError,
        match=r"scaled_dot_product_attention: expected q \(\.\.\., L, d\), "
        r"k \(\.\.\., S, d\) and v \(\.\.\., S, dv\), "
        r"got q \(2, 3, 4\), k \(2, 5, 3\), v \(2, 5, 7\)",
    ):
        scaled_dot_product_attention(q, np.ones((2, 5, 3)), v)
    with pytest.raises(ValueError, match=r"got q \(2, 3, 4\), k \(2, 5, 4\), v \(2, 6, 7\)"):
        scaled_dot_product_attention(q, k, np.ones((2, 6, 7)))
    with pytest.raises(ValueError, match="at least 2 axes"):
        scaled_dot_product_attention(np.ones(4), k, v)
    with pytest.raises(
        ValueError, match=r"leading axes of q \(2, 3, 4\), k \(3, 5, 4\), v \(3, 5, 7\) do not broadcast"
    ):
        scaled_dot_product_attention(q, np.ones((3, 5, 4)), np.ones((3, 5, 7)))
    with pytest.raises(TypeError, match="scaled_dot_product_attention: the mask must be a boolean array"):
        scaled_dot_product_attention(q, k, v, np.zeros((3, 5), np.int64))
    with pytest.raises(
        ValueError,
        match=r"expected a mask of shape \(L, S\) = \(3, 5\) or one that broadcasts to the "
        r"attention weights' \(2, 3, 5\), got \(5, 3\)",
    ):
        scaled_dot_product_attention(q, k, v, np.zeros((5, 3), bool))
    with pytest.raises(ValueError, match=r"got \(3, 3, 5\)"):
        scaled_dot_product_attention(q, k, v, np.zeros((3, 3, 5), bool))
