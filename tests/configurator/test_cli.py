"""``promessa configure`` (configurator.cli) on the bicycle."""

from __future__ import annotations

import json
from pathlib import Path

from configurator.cli import main

BIKE = str(Path(__file__).parents[2] / "configurator" / "examples" / "bicycle.yaml")


def test_check_choose_why_and_complete(capsys):
    assert main([BIKE, "--choose", "frame=steel", "--why", "motor=mid", "--how-to-get", "motor=mid",
                 "--complete", "cheapest", "--sample", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["consistent"] and out["variables"] == 6
    assert out["valid"]["size"] == ["M", "L", "XL"]
    assert set(out["why"]["rules"]) == {"ebike-needs-disc", "mid-motor-gears", "weight-limit"}
    assert out["how_to_get"]["changes"] == [{"var": "frame", "from": "steel", "to": "alu"}]
    # steel (150) is the only paid choice: 499 + 150 = 649.00
    assert out["configuration"]["frame"] == "steel" and out["price"]["unit"] == "649.00"
    assert len(out["sample"]) == 3 and all(s["frame"] == "steel" for s in out["sample"])


def test_a_refused_choice_exits_1(capsys):
    assert main([BIKE, "--choose", "frame=steel", "--choose", "size=S"]) == 1
    assert "frame-sizes" in capsys.readouterr().err
