import numpy as np

from umelib import GaussianSpec, bayes_reference, make_gaussian


def test_posterior_matches_bruteforce():
    spec = GaussianSpec(num_classes=4, dims={"x": 3, "z": 2}, groups={"z": 2})
    xs, _ = spec.sample(50, np.random.default_rng(0))
    post = spec.posterior(xs)
    for i in range(5):
        lik = np.ones(4)
        for m in spec.dims:
            mu = spec.means[m][np.arange(4) % spec.groups[m]]
            lik *= np.exp(-0.5 * ((xs[m][i] - mu) ** 2).sum(1) / spec.sigma[m] ** 2)
        np.testing.assert_allclose(post[i], lik / lik.sum(), rtol=1e-6)


def test_bayes_accuracy_orders_and_agrees_with_test_set():
    data = make_gaussian(n_train=10, n_val=10, n_test=20_000, seed=3)
    ref = bayes_reference(data, n=200_000)
    mc, test = ref["bayes"], ref["bayes_test"]
    assert mc["complete"] > max(mc["miss:x"], mc["miss:z"]) > 10
    for k in mc:
        assert abs(mc[k] - test[k]) < 1.5  # 20k test samples: sd ~0.35 points


def test_blind_modality_is_capped():
    # z sees only y % 2: alone it cannot beat 2 groups out of 10 classes -> <= 20% + noise
    spec = GaussianSpec(groups={"z": 2}, separation={"x": 3.0, "z": 6.0})
    acc = spec.bayes_accuracy(n=100_000)
    assert acc["miss:x"] <= 0.2 + 1e-9


def test_partial_missing_reference_is_the_optimum_of_the_mix():
    data = make_gaussian(n_train=10, n_val=10, n_test=20_000, seed=3)
    full = bayes_reference(data, n=200_000)
    rng = np.random.default_rng(0)
    masks = {"miss:x": rng.random(20_000) < 0.5, "miss:z": rng.random(20_000) < 0.5}
    half = bayes_reference(data, n=200_000, missing_rate=0.5, masks=masks)
    for s in ("miss:x", "miss:z"):
        mix = 0.5 * full["bayes"][s] + 0.5 * full["bayes"]["complete"]
        assert abs(half["bayes"][s] - mix) < 1e-9
        assert full["bayes"][s] < half["bayes"][s] < full["bayes"]["complete"]
        assert abs(half["bayes_test"][s] - half["bayes"][s]) < 1.5
    assert half["bayes"]["complete"] == full["bayes"]["complete"] and half["missing_rate"] == 0.5


def test_suite_reports_the_partial_missing_optimum():
    import umelib

    r = umelib.run("synthetic", "naive", "smoke", missing_rate=0.5, n_train=300, n_test=2000,
                   phase1=umelib.PhaseConfig(1, 64, 5e-2))[0]
    ref = r["reference"]
    assert ref["missing_rate"] == 0.5
    assert ref["bayes"]["miss:x"] > bayes_reference(umelib.load_dataset("synthetic").subsample(10, 10), n=10**6)["bayes"]["miss:x"] + 10


def test_dependent_modalities_posterior_matches_bruteforce():
    spec = GaussianSpec(num_classes=4, dims={"x": 2, "z": 2}, rho=0.7, sigma={"z": 1.5})
    xs, _ = spec.sample(20, np.random.default_rng(0))
    post = spec.posterior(xs)
    cov = np.array([[1.0, 0.7 * 1.5], [0.7 * 1.5, 1.5 ** 2]])  # per coordinate: (x_i, z_i)
    inv = np.linalg.inv(cov)
    for i in range(5):
        lik = np.ones(4)
        for c in range(4):
            for j in range(2):
                v = np.array([xs["x"][i, j] - spec.means["x"][c, j], xs["z"][i, j] - spec.means["z"][c, j]])
                lik[c] *= np.exp(-0.5 * v @ inv @ v)
        np.testing.assert_allclose(post[i], lik / lik.sum(), rtol=1e-5)
    # one modality alone: its marginal is unchanged by the correlation
    free = GaussianSpec(num_classes=4, dims={"x": 2, "z": 2}, sigma={"z": 1.5})
    np.testing.assert_allclose(spec.posterior(xs, ["x"]), free.posterior(xs, ["x"]), rtol=1e-9)


def test_correlated_noise_makes_the_pair_more_informative():
    indep = GaussianSpec().bayes_accuracy(n=100_000)
    dep = GaussianSpec(rho=0.8).bayes_accuracy(n=100_000)
    assert dep["complete"] > indep["complete"] + 0.05  # the difference of the two cancels shared noise
    assert abs(dep["miss:x"] - indep["miss:x"]) < 0.01 and abs(dep["miss:z"] - indep["miss:z"]) < 0.01
