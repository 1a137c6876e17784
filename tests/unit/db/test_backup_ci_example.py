"""The example CI workflow parses and runs backup, verify and prune, in that order."""

from __future__ import annotations

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[3] / "examples" / "ci" / "backup-daily.yml"


def test_the_daily_workflow_backs_up_verifies_and_prunes() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads `on` as true
    assert triggers["schedule"] == [{"cron": "15 2 * * *"}]
    steps = flow["jobs"]["backup"]["steps"]
    commands = [s.get("run", "") for s in steps]
    order = [
        next(i for i, c in enumerate(commands) if f"mediz-infra backup {word}" in c)
        for word in ("run", "verify", "prune")
    ]
    assert order == sorted(order)
    assert "--apply" in commands[order[2]]
    assert "${{ steps.run.outputs.id }}" in commands[order[1]]
    assert all("secrets." not in c for c in commands)  # secrets reach commands by env only
