"""perflaw.train.backbones.chunked_cross_entropy against the plain full-matrix
cross-entropy (value and both gradients), and the backbone loss that uses it on a CPU."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip(
    "torch", reason="perflaw sweep needs torch: pip install 'perflaw[train]'"
)
import torch.nn.functional as F  # noqa: E402

from perflaw.train.backbones import build, chunked_cross_entropy  # noqa: E402


def plain(hidden, weight, targets):
    """The obviously-correct loss: every logit at once, padding column dropped."""
    return F.cross_entropy(hidden @ weight[1:].T, targets - 1)


def both(n, n_items, d, chunk, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g, dtype=dtype) * 2
    w = torch.randn(n_items + 1, d, generator=g, dtype=dtype)
    t = torch.randint(1, n_items + 1, (n,), generator=g)
    out = []
    for fn in (plain, lambda a, b, c: chunked_cross_entropy(a, b, c, chunk=chunk)):
        hh, ww = h.clone().requires_grad_(), w.clone().requires_grad_()
        loss = fn(hh, ww, t)
        loss.backward()
        out.append((loss.detach(), hh.grad, ww.grad))
    return out


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    n_items=st.integers(1, 30),
    d=st.integers(1, 8),
    chunk=st.integers(1, 200),
    seed=st.integers(0, 2**16),
)
def test_equals_full_matrix_loss_and_gradients(n, n_items, d, chunk, seed):
    """Any chunking (one row at a time up to all rows at once) gives the plain loss."""
    (l0, gh0, gw0), (l1, gh1, gw1) = both(n, n_items, d, chunk, seed)
    torch.testing.assert_close(l1, l0)
    torch.testing.assert_close(gh1, gh0)
    torch.testing.assert_close(gw1, gw0)
    assert torch.all(gw1[0] == 0)  # padding: never scored, no gradient


def test_float32_and_a_last_short_chunk():
    """Real sizes (float32, 1,000 items, a chunk that does not divide the rows)."""
    (l0, gh0, gw0), (l1, gh1, gw1) = both(777, 1000, 16, 64_000, 3, torch.float32)
    torch.testing.assert_close(l1, l0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gh1, gh0, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(gw1, gw0, rtol=1e-4, atol=1e-6)


def test_upstream_gradient_is_applied():
    h = torch.randn(6, 3, requires_grad=True)
    w = torch.randn(5, 3, requires_grad=True)
    t = torch.tensor([1, 2, 3, 4, 4, 1])
    (3 * chunked_cross_entropy(h, w, t, chunk=8)).backward()
    gh, gw = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    (3 * plain(h, w, t)).backward()
    torch.testing.assert_close(gh, h.grad)
    torch.testing.assert_close(gw, w.grad)


def test_bf16_inputs_give_bf16_gradients():
    h = torch.randn(10, 4, dtype=torch.bfloat16, requires_grad=True)
    w = torch.randn(7, 4, dtype=torch.bfloat16, requires_grad=True)
    t = torch.randint(1, 7, (10,))
    chunked_cross_entropy(h, w, t).backward()
    assert h.grad.dtype == w.grad.dtype == torch.bfloat16
    ref = plain(h.detach().float(), w.detach().float(), t)
    assert abs(chunked_cross_entropy(h, w, t).item() - ref.item()) < 1e-5


def test_no_targets_is_refused():
    with pytest.raises(ValueError, match="at least one target"):
        chunked_cross_entropy(torch.zeros(0, 4), torch.zeros(5, 4), torch.zeros(0, dtype=int))


@pytest.mark.parametrize("backbone", ["sasrec", "llama", "hstu"])
def test_backbone_loss_on_cpu_is_the_plain_loss(backbone):
    """_Backbone.loss takes the chunked path on a CPU: the same value and item-table
    gradient as the padding-masked full-matrix loss it replaced."""
    torch.manual_seed(0)
    model = build(backbone, 50, 8, 1, 10, heads=1, dropout=0.0)
    hidden = torch.randn(30, 8)
    targets = torch.randint(1, 51, (30,))
    loss = model.loss(hidden, targets)
    loss.backward()
    chunked = model.items.weight.grad.clone()
    model.items.weight.grad = None
    logits = model.scores(hidden)
    logits[:, 0] = float("-inf")
    ref = F.cross_entropy(logits, targets)
    ref.backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(chunked, model.items.weight.grad)
