"""`vigil eval` on its subset, inside the suite: the figures the project commits to.

Cooperative genuine sessions all pass (BPCER 0 on the subset); naive replays (of the genuine
video and of its screen replay) and a photo held flat or tilted in 3-D never pass. The smart
replay (the screen replay answering each prompt with the matching segment) is reported, not
asserted: passive evidence is all that can stop it, and it may pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.eval.command import evaluate
from infra.eval.plan import Kind
from infra.eval.render import table

pytestmark = pytest.mark.slow


@pytest.mark.timeout(240)
def test_the_subset_keeps_out_naive_replays_and_photos(data_dir: Path, tmp_path: Path) -> None:
    document, results = evaluate(data_dir, tmp_path, full=False, sessions=1)
    print(table(document["summary"]))
    kinds = document["summary"]["kinds"]
    assert set(kinds) == {kind.value for kind in Kind}
    genuine = [r for r in results if r.kind is Kind.GENUINE]
    assert genuine
    assert all(r.outcome == "pass" for r in genuine), [r.deciding for r in genuine]
    assert kinds[Kind.GENUINE.value]["bpcer"] == 0.0
    for kind in (Kind.NAIVE_REPLAY, Kind.PHOTO):
        attacks = [r for r in results if r.kind is kind]
        assert attacks
        assert not any(r.outcome == "pass" for r in attacks), [r.deciding for r in attacks]
        assert kinds[kind.value]["apcer"] == 0.0
    smart = [r for r in results if r.kind is Kind.SMART_REPLAY]
    print("smart replay:", [(r.outcome, r.deciding, r.prompts) for r in smart])
    # The report: JSON with every session, and the score plot.
    written = json.loads((tmp_path / "eval.json").read_text())
    assert len(written["sessions"]) == len(results)
    assert (tmp_path / "scores.svg").read_text().startswith("<svg")
    # Bounded sessions: no session ran past its frame bound.
    assert all(r.frames <= 400 for r in results)
