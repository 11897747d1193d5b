"""NightlyConfig validation and the promotion rule (no Prefect needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mmdata.params import load_config
from mmmodel.nightly import NightlyConfig, comparison_markdown, decide_promotion


def test_defaults_and_params_section(tmp_path):
    assert NightlyConfig().metric == "macro_f1" and NightlyConfig().timezone == "UTC"
    params = tmp_path / "params.yaml"
    params.write_text("nightly:\n  cron: '30 3 * * 1-5'\n  timezone: Europe/Berlin\n  margin: 0.01\n")
    cfg = load_config(NightlyConfig, "nightly", params)
    assert (cfg.cron, cfg.timezone, cfg.margin) == ("30 3 * * 1-5", "Europe/Berlin", 0.01)


@pytest.mark.parametrize("values", [{"timezone": "Mars/Olympus"}, {"cron": "0 2 * *"}, {"metric": "loss"},
                                    {"margin": -0.1}, {"unknown": 1},
                                    {"train": {"epoch": 3}}, {"train": {"out": "x"}}])
def test_invalid_values_are_refused(values):
    with pytest.raises(ValidationError):
        NightlyConfig(**values)


def test_promotion_needs_a_positive_gain_of_at_least_the_margin():
    assert decide_promotion(None, {"macro_f1": 0.1}, "macro_f1", 0.5).promote
    old = {"macro_f1": 0.80, "accuracy": 0.9}
    assert decide_promotion(old, {"macro_f1": 0.85, "accuracy": 0.1}, "macro_f1", 0.02).promote
    assert not decide_promotion(old, {"macro_f1": 0.81, "accuracy": 1.0}, "macro_f1", 0.02).promote
    assert not decide_promotion(old, {"macro_f1": 0.80}, "macro_f1", 0.0).promote  # a tie keeps the champion
    assert not decide_promotion(old, {"macro_f1": 0.70}, "macro_f1", 0.0).promote
    by_accuracy = decide_promotion(old, {"macro_f1": 0.1, "accuracy": 0.95}, "accuracy", 0.0)
    assert by_accuracy.promote and by_accuracy.gain == pytest.approx(0.05)


def test_comparison_markdown_has_both_columns_and_the_verdict():
    decision = decide_promotion({"macro_f1": 0.5, "n_samples": 10}, {"macro_f1": 0.4, "n_samples": 10}, "macro_f1", 0)
    text = comparison_markdown("old", {"macro_f1": 0.5, "n_samples": 10}, "new", {"macro_f1": 0.4, "n_samples": 10},
                               decision, "test")
    assert "challenger `new` rejected; the champion stays" in text
    assert "| **macro_f1** | 0.5000 | 0.4000 | -0.1000 |" in text and "| n_samples | 10 | 10 | +0.0000 |" in text
