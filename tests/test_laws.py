"""Law declarations: registry, formulas, Jacobians, variable projection, optima."""

import numpy as np
import pytest
from scipy.optimize import least_squares

from perflaw import DataError
from perflaw.laws import LAWS, PerformanceLaw, get_law, loss_value

GRID_N = np.repeat([4.0, 8.0, 12.0, 16.0, 24.0, 32.0], 4)
GRID_D = np.tile([25.0, 50.0, 75.0, 100.0], 6)

VARIANTS = {
    "p-free": dict(),
    "p-pinned": dict(p=2.0),
    "free-groups": dict(data_term="free", groups=["a", "b"]),
    "dprime": dict(data_term="dprime"),
    "dprime-pinned": dict(data_term="dprime", p=2.0, q=3.0),
    # an intercept per depth in place of the N factor (two depths at many widths)
    "depth-offset": dict(
        constant_factors=["N"], offset_by="layers", offset_levels=[4.0, 8.0, 12.0, 16.0, 24.0, 32.0]
    ),
    "width-offset-pinned": dict(
        p=2.0, constant_factors=["d"], offset_by="d_emb", offset_levels=[25.0, 50.0, 75.0, 100.0]
    ),
}


def _inputs(rng=None):
    X = {"layers": GRID_N.copy(), "d_emb": GRID_D.copy()}
    X["group"] = (np.arange(len(GRID_N)) % 2).astype(float)
    X["d_prime"] = np.where(X["group"] == 0, 1e5, 3e5) * (1 + 0.1 * (GRID_N % 3))
    return X


def _theta(law, rng):
    lo, hi = law.bounds()
    theta = rng.normal(0, 0.5, size=law.n_params)
    return np.clip(theta, lo, hi)


def test_offsets_bind_from_two_values_and_refuse_other_values():
    two = {"layers": np.repeat([1.0, 2.0], 4), "d_emb": np.tile([16.0, 32.0, 64.0, 128.0], 2)}
    law = PerformanceLaw().bind(two)
    assert (law.offset_by, law.offset_levels, law.factors) == ("layers", [1.0, 2.0], ("d",))
    assert law.param_names == ("alpha_d", "beta_d", "gamma_d", "b[layers=1]", "b[layers=2]")
    assert law.grouped_input() == ("layers", {1.0: "layers=1", 2.0: "layers=2"})
    assert law.varies_with("layers") and law.identifiable(two) is None
    law.check(two)
    with pytest.raises(DataError, match="for layers 1, 2 only: it cannot predict layers 4"):
        law.check({"layers": np.array([1.0, 4.0]), "d_emb": np.array([16.0, 16.0])})
    with pytest.raises(DataError, match="cannot predict layers 3"):  # formula alone too
        law.formula(np.zeros(law.n_params), {"layers": np.array([3.0]), "d_emb": np.array([16.0])})
    # saved and reloaded through its options
    assert PerformanceLaw(**law.options()).param_names == law.param_names
    # two values on both axes, or three depths: no offsets
    assert (
        PerformanceLaw().bind({"layers": two["layers"], "d_emb": two["layers"]}).offset_by is None
    )
    three = {"layers": np.repeat([1.0, 2.0, 4.0], 3), "d_emb": np.tile([16.0, 32.0, 64.0], 3)}
    assert PerformanceLaw().bind(three).factors == ("N", "d")


def test_registry_and_errors():
    assert "performance" in LAWS
    assert isinstance(get_law("Performance"), PerformanceLaw)
    with pytest.raises(DataError, match="unknown law 'gompertz'"):
        get_law("gompertz")
    with pytest.raises(DataError, match="has no option 'r'"):
        get_law("performance", r=2)
    with pytest.raises(DataError, match="p must be a positive"):
        PerformanceLaw(p=-1)
    with pytest.raises(DataError, match="unknown data term"):
        PerformanceLaw(data_term="joint")
    with pytest.raises(DataError, match="needs the group labels"):
        PerformanceLaw(data_term="free")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_jacobian_matches_finite_differences(name):
    law = PerformanceLaw(**VARIANTS[name])
    rng = np.random.default_rng(1)
    X = _inputs()
    theta = _theta(law, rng)
    J = law.jacobian(theta, X)
    assert J.shape == (len(GRID_N), law.n_params)
    eps = 1e-6
    for i in range(law.n_params):
        t1, t2 = theta.copy(), theta.copy()
        t1[i] += eps
        t2[i] -= eps
        num = (law.formula(t1, X) - law.formula(t2, X)) / (2 * eps)
        np.testing.assert_allclose(J[:, i], num, rtol=1e-5, atol=1e-6, err_msg=law.param_names[i])


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variable_projection_recovers_noiseless_law(name):
    law = PerformanceLaw(**VARIANTS[name])
    X = _inputs()
    # a law with interior optima: exponents inside the bounds
    theta = np.zeros(law.n_params)
    expo = {"N": 0.6, "d": 0.8, "D": -0.5}
    for f in law.factors:
        i = law.factors.index(f) * law._width
        if law.p is None:
            theta[i : i + 3] = [0.05, -0.01, expo[f]]
        else:
            theta[i : i + 2] = [0.02, -expo[f]]
    theta[len(law.factors) * law._width :] = 0.3
    if law.data_term == "free" or law.offset_by:
        theta[-1] = 0.25
    y = law.formula(theta, X)
    starts = law.solve(X, y, loss="l2", huber_delta=None, rng=np.random.default_rng(0), n_random=2)
    best = min(starts, key=lambda s: s.cost)
    np.testing.assert_allclose(law.formula(best.theta, X), y, rtol=0, atol=1e-6)


def test_optimum_of_pinned_law_is_p_to_minus_one_over_w3():
    # docs/science.md §4: ML-1M seq 100 HR@10, w3 = -0.26, w4 = -0.17 give N* ~ 14, d* ~ 59-64
    law = PerformanceLaw(p=2)
    theta = np.array([0.01, -0.26, 0.02, -0.17, 0.3])
    derived = law.derived(theta, {"layers": (4, 32), "d_emb": (25, 100)})
    assert derived["N_opt"] == pytest.approx(2 ** (1 / 0.26))
    assert derived["d_opt"] == pytest.approx(2 ** (1 / 0.17))
    assert 13 < derived["N_opt"] < 15
    # a negative coefficient turns the stationary point into a minimum: no optimum
    theta[0] = -0.01
    derived = law.derived(theta, {"layers": (4, 32), "d_emb": (25, 100)})
    assert np.isnan(derived["N_opt"])
    notes = law.notes(theta, {"layers": (4, 32), "d_emb": (25, 100)})
    assert "minimum" in notes[0]


def test_free_p_optimum_agrees_with_numeric_maximum():
    law = PerformanceLaw()
    theta = np.array([0.02, -0.004, 0.7, 0.05, -0.002, 0.9, 0.1])
    d = law.derived(theta, {"layers": (1, 100), "d_emb": (1, 500)})
    x = np.linspace(1, 200, 200001)
    f = 0.02 * np.log(x) - 0.004 * x**0.7
    assert d["N_opt"] == pytest.approx(x[np.argmax(f)], rel=1e-4)
    # the authors' parameters implied by (alpha, beta, gamma): N* = p^(-1/w3)
    assert d["N_opt"] == pytest.approx(d["p_N"] ** (-1 / d["exponent_N"]))


def test_optimum_beyond_float_range_is_infinite_not_an_error():
    # gamma ~ 1e-4: the stationary point (-alpha/(beta*gamma))^(1/gamma) overflows a float
    law = PerformanceLaw()
    theta = np.array([0.02, -0.004, 1e-4, 0.05, -0.002, 0.9, 0.1])
    d = law.derived(theta, {"layers": (1, 8), "d_emb": (16, 64)})
    assert d["N_opt"] == np.inf
    assert law.notes(theta, {"layers": (1, 8), "d_emb": (16, 64)})


def test_monotone_factor_is_reported():
    law = PerformanceLaw()
    theta = np.array([0.02, 0.004, 0.7, 0.05, -0.002, 0.9, 0.1])  # both terms increase in N
    d = law.derived(theta, {"layers": (4, 32), "d_emb": (25, 100)})
    assert np.isnan(d["N_opt"])
    assert law.notes(theta, {"layers": (4, 32), "d_emb": (25, 100)})[0].startswith(
        "layers: monotone increasing"
    )


def test_huber_cost_matches_scipy():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 30)
    y = 1 + 2 * x + rng.normal(0, 0.1, 30)
    y[3] += 3
    res = least_squares(lambda t: t[0] + t[1] * x - y, [0, 0], loss="huber", f_scale=0.2)
    assert loss_value(res.fun, "huber", 0.2) == pytest.approx(res.cost, rel=1e-10)
    with pytest.raises(DataError, match="unknown loss"):
        loss_value(res.fun, "l1", None)


def test_check_rejects_non_positive_inputs():
    law = PerformanceLaw()
    with pytest.raises(DataError, match="'layers' must be positive"):
        law.check({"layers": np.array([0.0, 2.0]), "d_emb": np.array([8.0, 8.0])})


def test_best_in_range_is_numeric_optimum_or_boundary():
    law = PerformanceLaw()
    ranges = {"layers": (4, 32), "d_emb": (25, 100)}
    inside = np.array([0.02, -0.004, 0.7, 0.05, -0.002, 0.9, 0.1])
    d = law.derived(inside, ranges)
    assert d["N_best_in_range"] == pytest.approx(d["N_opt"], rel=3e-3)
    monotone = np.array([0.02, 0.004, 0.7, 0.05, -0.002, 0.9, 0.1])
    assert law.derived(monotone, ranges)["N_best_in_range"] == pytest.approx(32)
