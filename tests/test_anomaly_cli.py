"""``aezoo anomaly fit`` / ``score``: files, pictures, CSV, and one-line errors."""

import numpy as np
import pytest

from aezoo.cli import main
from zoo.anomaly import Detector


@pytest.mark.slow
def test_fit_then_score_writes_a_detector_csv_and_pictures(tmp_path, capsys):
    out = tmp_path / "det"
    assert main(["anomaly", "fit", "ae_dense.mnist", "--normal", "sample:mnist", "--normal-class", "1",
                 "--out", str(out), "--percentile", "95", "--score", "combined", "--error", "bce"]) == 0
    assert "fitted a combined detector" in capsys.readouterr().out
    assert {"detector.json", "model.keras", "scores.png", "most_anomalous_normal.png"} <= {p.name for p in out.iterdir()}
    csv = tmp_path / "s.csv"
    assert main(["anomaly", "score", str(out), "--input", "sample:mnist", "--output", str(csv),
                 "--pictures", str(tmp_path / "pics"), "--normal-class", "1", "--maps", str(tmp_path / "m.npy")]) == 0
    rows = np.genfromtxt(csv, delimiter=",", names=True)
    assert len(rows) == 1000 and np.load(tmp_path / "m.npy").shape == (1000, 28, 28, 1)
    ones = rows["label"] == 1
    assert rows["score"][~ones].mean() > rows["score"][ones].mean()  # other digits look more anomalous
    loaded = Detector.load(out)
    assert loaded.error == "bce"  # the option, not the default (mse)
    assert np.array_equal(rows["anomaly"], (rows["score"] > loaded.threshold).astype(float))
    assert {"roc.png", "scores.png", "most_anomalous.png"} <= {p.name for p in (tmp_path / "pics").iterdir()}


@pytest.mark.parametrize("argv, needle", [
    (["anomaly", "fit", "ae_dense.mnist", "--normal", "nope.npy", "--out", "x"], "No data at"),
    (["anomaly", "fit", "ae_dense.mnist", "--normal", "sample:mnist", "--fpr", "0.1", "--percentile", "90",
      "--out", "x"], "Choose one of --fpr and --percentile"),
    (["anomaly", "score", "missing_folder", "--input", "sample:mnist", "--output", "s.csv"], "No detector at"),
])
def test_errors_are_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("aezoo: error:") and needle in err and err.count("\n") == 1
