"""Quotas are configurable from the environment, not hard-coded surprises."""
from __future__ import annotations

from picks.settings import Settings


def test_quotas_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PICKS_TABLE", "t")
    monkeypatch.setenv("PICKS_BUCKET", "b")
    monkeypatch.setenv("PICKS_MAX_FILTERS_PER_GROUP", "60")
    monkeypatch.setenv("PICKS_MAX_FIELDS_PER_FILTER", "25")
    settings = Settings.from_environment()
    assert settings.max_filters_per_group == 60
    assert settings.max_fields_per_filter == 25
    assert settings.max_campaigns_per_group == 5  # untouched quotas keep Personalize's defaults
