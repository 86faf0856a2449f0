"""The one-class benchmark's bookkeeping: ensembles and baselines against hand computations."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from benchmarks.anomaly import baseline_scores, ensemble_members, ensemble_rows, summary_table


def test_ensemble_is_the_mean_of_calibration_standardised_scores():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(50, int), np.ones(50, int)]
    scores = {}
    for family, scale in (("a", 1.0), ("b", 100.0)):  # very different scales must weigh the same
        scores[f"{family}/mahalanobis"] = (scale * (rng.normal(size=100) + y), scale * rng.normal(size=40))
    scores["a/elbo"] = (rng.normal(size=100), rng.normal(size=40))  # one member only: no ensemble row
    rows = ensemble_rows(scores, ["a", "b"], y, y == 0)
    assert [r["method"] for r in rows] == ["ensemble/mahalanobis"]
    z = [(s - c.mean()) / c.std() for s, c in (scores["a/mahalanobis"], scores["b/mahalanobis"])]
    cal = [(c - c.mean()) / c.std() for _, c in (scores["a/mahalanobis"], scores["b/mahalanobis"])]
    want = (z[0] + z[1]) / 2
    assert rows[0]["auroc"] == pytest.approx(roc_auc_score(y, want))
    assert rows[0]["fpr_at_1pct"] == pytest.approx(np.mean(want[:50] > np.quantile((cal[0] + cal[1]) / 2, 0.99)))


def test_pca_baseline_is_the_reconstruction_error_of_a_numpy_pca():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(200, 4, 4, 1)) @ np.eye(1)
    test = rng.normal(size=(30, 4, 4, 1))
    a = train.reshape(200, -1)
    mean = a.mean(0)
    _, _, vt = np.linalg.svd(a - mean, full_matrices=False)
    basis = vt[:3]
    b = test.reshape(30, -1) - mean
    want = np.mean((b - b @ basis.T @ basis) ** 2, axis=1)
    np.testing.assert_allclose(baseline_scores("pca_reconstruction", train, test, components=3), want, rtol=1e-6)


def test_summary_table_orders_methods_by_mean_auroc():
    rows = [{"dataset": "d", "normal_class": c, "method": m, "auroc": v, "auprc": v, "fpr_at_1pct": None}
            for m, v in (("low", 0.6), ("high", 0.9)) for c in (0, 1)]
    table = summary_table(rows)
    assert table.index("| high |") < table.index("| low |") and "**0.9000**" in table


def test_declared_cross_family_ensembles_need_every_member():
    scores = {k: (np.zeros(4), np.ones(3)) for k in ("d/reconstruction(mse)", "c/mahalanobis", "c/combined(mse)")}
    got = ensemble_members(scores, ["d", "c"], ["d/reconstruction(mse)+c/mahalanobis", "d/elbo+c/mahalanobis"])
    assert got == {"ensemble/d:reconstruction(mse)+c:mahalanobis": ["d/reconstruction(mse)", "c/mahalanobis"]}
