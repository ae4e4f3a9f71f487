"""The monitoring guide names every metric family the server exposes, and the example
configuration it points at."""

from __future__ import annotations

import pathlib
import re

from openai_usage_async.serve._metrics import FAMILIES

ROOT = pathlib.Path(__file__).parent.parent.parent
GUIDE = ROOT / "docs" / "guides" / "monitoring.md"


def test_the_guide_lists_every_family_with_its_type() -> None:
    text = GUIDE.read_text()
    rows = dict(re.findall(r"^\| `(openai_usage_\w+)` \| (counter|gauge) \|", text, re.M))
    assert rows == {name: kind for name, (kind, _, _) in FAMILIES.items()}


def test_the_guide_shows_the_shipped_alert_rules_as_they_are() -> None:
    text = GUIDE.read_text()
    rules = (ROOT / "docs" / "examples" / "prometheus" / "alerts.yml").read_text()
    for expr in ("openai_usage_up == 0", "openai_usage_org_month_forecast_usd"):
        assert expr in text and expr in rules
    assert "on(job, instance)" in rules and "on(job, instance)" in text
