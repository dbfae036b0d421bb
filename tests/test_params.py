import pytest

from perflaw import DataError, count_parameters


def test_sasrec_formula_by_hand():
    d, L, n_items, max_len = 32, 3, 10, 20
    block = 4 * d * d + 4 * d + 2 * d * d + d + d + 4 * d
    c = count_parameters(L, d, arch="sasrec", n_items=n_items, max_len=max_len)
    assert c.embedding == (n_items + 1) * d + max_len * d
    assert c.non_embedding == L * block + 2 * d
    assert c.get("total") == c.embedding + c.non_embedding
    assert c.get("non-embedding") == c.non_embedding


def test_llama_ffn_rounding():
    from perflaw.decide.params import llama_ffn_dim

    assert llama_ffn_dim(64) == 192  # 8*64/3 = 170.7 -> 6 blocks of 32
    assert llama_ffn_dim(96) == 256


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_rejects_bad_layers(bad):
    with pytest.raises(DataError, match="layers"):
        count_parameters(bad, 64)


def test_unknown_arch():
    with pytest.raises(DataError, match="unknown architecture"):
        count_parameters(2, 64, arch="mamba")
