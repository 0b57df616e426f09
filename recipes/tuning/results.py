"""What a search found: one record per trial, and the search's result with its ranked table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from recipes.catalog import Recipe
from recipes.tables import format_table
from recipes.training import Result


@dataclass
class TrialRecord:
    trial_id: str
    status: str
    score: float | None
    epochs: int | None
    hyperparameters: dict
    reason: str = ""
    worker: str | None = None
    seconds: float | None = None
    rss_mb: float | None = None
    # the decay the trial's optimizer applied (hyperparameters hold what was drawn); None where
    # the trial never compiled or was recorded before this was kept
    applied_weight_decay: float | None = None


@dataclass
class TuneResult:
    """What a search found: the best hyperparameters, every trial, and the retrained best model."""

    recipe: Recipe
    objective: str
    direction: str
    best_hyperparameters: dict
    trials: list[TrialRecord]
    project_dir: Path
    best_trial_id: str | None = None
    result: Result | None = None  # the best configuration retrained on train + validation
    extra: dict = field(default_factory=dict)

    @property
    def best_model(self):
        return self.result.model if self.result else None

    @property
    def test_metrics(self) -> dict:
        return self.result.test_metrics if self.result else {}

    @property
    def export_path(self):
        return self.result.export_path if self.result else None

    @property
    def failed(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.status != "COMPLETED"]

    def ranked(self) -> list[TrialRecord]:
        """Completed trials best first, then the ones that failed."""
        completed = [t for t in self.trials if t.status == "COMPLETED" and t.score is not None]
        completed.sort(key=lambda t: t.score, reverse=self.direction == "max")
        return completed + sorted(self.failed, key=lambda t: t.trial_id)

    def table(self, limit: int | None = None) -> str:
        rows = []
        for rank, trial in enumerate(self.ranked()[:limit], start=1):
            score = f"{trial.score:.4f}" if trial.score is not None else "-"
            settings = ", ".join(f"{k}={short(v)}" for k, v in trial.hyperparameters.items())
            drawn = trial.hyperparameters.get("weight_decay")
            if trial.applied_weight_decay is not None and drawn is not None and trial.applied_weight_decay != drawn:
                settings += f" (applied weight_decay={short(trial.applied_weight_decay)})"
            note = trial.reason if trial.status != "COMPLETED" else settings
            rows.append((rank, trial.trial_id, trial.status.lower(), score, trial.epochs or "-",
                         trial.worker or "-", note))
        headers = ("rank", "trial", "status", self.objective, "epochs", "worker", "hyperparameters / reason")
        return format_table(rows, headers)

    def __repr__(self) -> str:
        return (f"TuneResult({self.recipe.name}: {len(self.trials)} trials, best {self.best_trial_id}, "
                f"test {self.test_metrics}, export_path={self.export_path})")


def short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def searched(values: dict) -> dict:
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


def failure_reason(message: str | None) -> str:
    """The last line of keras-tuner's stored traceback, without the exception's module path."""
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    name, sep, text = last.partition(": ")
    return text if sep and "Error" in name.rsplit(".", 1)[-1] else last


def summarize(search, recipe: Recipe, project_dir: Path) -> TuneResult:
    """Every trial the oracle holds, with the worker that ran it where that was recorded."""
    runs = {}
    for path in sorted((project_dir / "workers").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            runs[json.loads(line)["trial_id"]] = {**json.loads(line), "worker": path.stem}
    oracle = search.oracle
    trials = []
    for trial_id, trial in sorted(oracle.trials.items()):
        run = runs.get(trial_id, {})
        trials.append(TrialRecord(
            trial_id=trial_id, status=trial.status, score=trial.score,
            epochs=None if trial.best_step is None or trial.score is None else trial.best_step + 1,
            hyperparameters=searched(trial.hyperparameters.values), reason=failure_reason(trial.message),
            worker=run.get("worker"), seconds=run.get("seconds"), rss_mb=run.get("rss_mb"),
            applied_weight_decay=run.get("applied_weight_decay")))
    best = oracle.get_best_trials(1)
    objective = oracle.objective
    return TuneResult(recipe, objective.name, objective.direction,
                      searched(best[0].hyperparameters.values) if best else {}, trials, project_dir,
                      best_trial_id=best[0].trial_id if best else None, extra={"best_trial": best[0] if best else None})


def worker_trials(project_dir: Path, tuner_id: str) -> list[TrialRecord]:
    path = project_dir / "workers" / f"{tuner_id}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [TrialRecord(r["trial_id"], r["status"], None, None, {}, worker=tuner_id, seconds=r["seconds"],
                        rss_mb=r["rss_mb"], applied_weight_decay=r.get("applied_weight_decay")) for r in rows]
