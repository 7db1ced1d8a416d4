"""The command line as a newcomer meets it (issue 20, item 3): `promise` and `atp` check a request as the API
does and say how to fix it, capable-to-promise is explained in words, `atp` says which rows it shows, and a
closed pipe ends the command quietly.

The capable-to-promise story is the bike plant of tests/promising/test_ctp_stories.py (as of 2026-01-01, 60
days): only 32 bolts until 100 more arrive on day 20; 15 bikes asked for on day 10 (2026-01-11): 5 from
stock, 10 to make. A made bike needs 2 bolts for its frame and 2 for its wheels; the frames of the lot would
need 4 bolts on 2026-01-07 and none are left then, so the bikes come on day 23 (2026-01-24).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from promessa.cli import main
from tests.promising.test_ctp_stories import AS_OF, H, bike_tables

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> str:
    from supplydata.writer import write_snapshot

    d = tmp_path_factory.mktemp("cli-plant") / "snap"
    write_snapshot(d, bike_tables(bolt=32.0, bolt_receipt=(20, 100.0)), as_of=AS_OF, horizon_days=H)
    return str(d)


def promise(plant: str, *extra: str) -> list[str]:
    return ["promise", "--snapshot", plant, *extra]


def test_capable_to_promise_is_explained_in_words(plant, capsys):
    assert main(promise(plant, "--item", "BIKE", "--location", "P1", "--qty", "15", "--date", "2026-01-11")) == 0
    out = capsys.readouterr().out
    assert "{'" not in out and "'binding'" not in out  # no raw dict
    lines = [ln.strip() for ln in out.splitlines()]
    assert lines[1] == "status: late   reason: material (a component is short)"
    assert "schedule line 1:         15 on 2026-01-24" in lines
    assert "capable to promise: 5 from stock, 10 made (the last lot finishes 2026-01-24)" in lines
    assert ("binding: component BOLT (level 2, for FRAME) at P1: 4 needed by 2026-01-07, 0 available then (short by 4)"
            in lines)
    assert "components drawn:" in out and "capacity drawn:" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--item", "BIKE", "--location", "P1", "--qty", "1", "--date", "2025-12-31"],
     "date='2025-12-31': date before the snapshot day 2026-01-01 (hint: ask for 2026-01-01 or later; the API refuses it too)"),
    (["--item", "BIKE", "--location", "P1", "--qty", "1", "--date", "2026-03-02"],
     "date='2026-03-02': date outside the horizon (last day 2026-03-01) (hint: ask for a day up to 2026-03-01)"),
    (["--item", "BIKES", "--location", "P1", "--qty", "1", "--date", "2026-01-11"],
     "item='BIKES': unknown item (hint: did you mean BIKE?)"),
    (["--item", "BIKE", "--location", "PL1", "--qty", "1", "--date", "2026-01-11"],
     "location='PL1': unknown location (hint: did you mean P1?)"),
    (["--item", "BIKE", "--location", "P1", "--qty", "0", "--date", "2026-01-11"],
     "qty=0.0: the quantity must be more than 0"),
])
def test_promise_refuses_what_the_api_refuses_with_a_hint(plant, capsys, args, message):
    assert main(promise(plant, *args)) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == "promessa: error: " + message and captured.out == ""


def test_a_bad_date_says_the_format(plant, capsys):
    with pytest.raises(SystemExit) as exc:
        main(promise(plant, "--item", "BIKE", "--location", "P1", "--qty", "1", "--date", "2026-02-30"))
    assert exc.value.code == 2
    assert "argument --date: not a date (YYYY-MM-DD): '2026-02-30'" in capsys.readouterr().err


def test_atp_says_which_rows_it_shows(plant, capsys):
    """BOLT at P1: 32 on hand on as_of, 100 arriving on day 20 (2026-01-21): within the first 30 days two rows."""
    assert main(["atp", "--snapshot", plant, "--item", "BOLT", "--location", "P1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [r.split()[0] for r in out[2:-1]] == ["2026-01-01", "2026-01-21"]
    assert out[-1] == ("(2 rows: the days with supply, demand or commitments (and as_of) in the first 30 days; "
                       "--days 0 for the whole horizon, --all for every day)")
    assert main(["atp", "--snapshot", plant, "--item", "BOLT", "--location", "P1", "--all", "--days", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 + 60 + 1 and out[-1] == "(60 rows: every day in all 60 days of the horizon)"
    assert main(["atp", "--snapshot", plant, "--item", "BOLTS", "--location", "P1"]) == 2
    assert "did you mean BOLT?" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`promessa atp ... | head -1`: the reader goes away after one line; no BrokenPipeError traceback, exit 0.
    The plant over 2,000 days: every day's row is about 190 KB, more than a pipe holds, so the command is still
    writing when the reader leaves."""
    from supplydata.writer import write_snapshot

    long = str(write_snapshot(tmp_path / "long", bike_tables(), as_of=AS_OF, horizon_days=2000))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "promessa.cli", "atp", "--snapshot", long, "--item", "BOLT",
                             "--location", "P1", "--all", "--days", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # as head does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 0
    assert first.startswith(b"BOLT at P1, as of 2026-01-01")
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
