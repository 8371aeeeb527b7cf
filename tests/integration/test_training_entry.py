"""training.train under the SageMaker training contract: a subprocess given SM_CHANNEL_TRAIN, SM_MODEL_DIR and
SM_OUTPUT_DIR, as emulator.training_jobs runs it (and SageMaker would)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from picks.dataset_schema import parse_schema
from picks.ingest import columnar
from picks.ingest.csv_reader import read_csv
from picks.model_artifact import load_dir
from picks.serving.rankers import FactorModel

from demo.schemas import USER_ITEM_TIME, avro_schema
from tests.unit.planted import csv_rows, planted
from tests.utils import METRIC_KEYS
from training import train as train_module

REPO = Path(__file__).resolve().parents[2]
HEADER = "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\n"
SCHEMA = parse_schema(avro_schema("Interactions", *USER_ITEM_TIME, ("EVENT_TYPE", "string")))
SMALL = {"hidden_dimension": "8", "als_iterations": "5"}


def write_channel(root: Path, config: dict[str, Any], csv_text: str) -> Path:
    channel = root / "input" / "data" / "train"
    (channel / "interactions").mkdir(parents=True)
    (channel / "config.json").write_text(json.dumps(config))
    data, manifest = columnar.serialize(read_csv((HEADER + csv_text).encode(), SCHEMA, "INTERACTIONS"))
    (channel / "interactions" / manifest["data"]["key"]).write_bytes(data)
    (channel / "interactions" / "manifest.json").write_text(json.dumps(manifest))
    return channel


def contract_env(root: Path, channel: Path) -> dict[str, str]:
    return {
        "SM_CHANNEL_TRAIN": str(channel),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_HPS": "{}",
    }


def run_job(root: Path, channel: Path) -> subprocess.CompletedProcess[str]:
    (root / "model").mkdir(exist_ok=True)
    (root / "output").mkdir(exist_ok=True)
    env = {
        **os.environ,
        **contract_env(root, channel),
        "OPENBLAS_NUM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "training.train"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_in_process(root: Path, channel: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """The same entry point, called directly (for the cheaper cases)."""
    for name, value in contract_env(root, channel).items():
        monkeypatch.setenv(name, value)
    return train_module.main()


@pytest.fixture(scope="module")
def data():
    return planted(seed=21)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    root = tmp_path_factory.mktemp("job")
    config = {
        "recipe": "aws-user-personalization",
        "trainingMode": "FULL",
        "seed": 7,
        "solutionConfig": {"algorithmHyperParameters": SMALL},
    }
    result = run_job(root, write_channel(root, config, csv_rows(data.interactions)))
    return root, result


def test_success_writes_the_artifact_and_metrics(trained, data):
    root, result = trained
    assert result.returncode == 0, result.stderr
    model_dir = root / "model"
    assert {p.name for p in model_dir.iterdir()} == {"manifest.json", "model.npz", "metrics.json"}
    assert not (root / "output" / "failure").exists()
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert set(metrics) == METRIC_KEYS
    assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert metrics["precision_at_5"] > 0  # planted clusters are learnable
    artifact = load_dir(model_dir)
    assert artifact.recipe == "aws-user-personalization" and artifact.recipe_type == "USER_PERSONALIZATION"
    assert artifact.info["metrics"] == metrics
    assert artifact.info["counts"] == {"interactions": len(data.interactions), "users": 120, "items": 40}
    assert artifact.info["trainingSeconds"] >= 0
    assert isinstance(artifact.info["exclude_interacted_items"], bool)  # "auto" is settled on the holdout
    assert artifact.info["hyperParameters"]["hidden_dimension"] == "8"
    assert sorted(artifact.user_ids.tolist()) == sorted(data.interactions.user_ids.tolist())
    # Every user, held-out ones included, has a vector in the final model.
    model = FactorModel(artifact)
    assert (np.abs(model.user_factors).sum(axis=1) > 0).all()
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed == {"recipe": "aws-user-personalization", "metrics": metrics}


def test_too_few_interactions_fail_with_the_reason(tmp_path, data):
    config = {"recipe": "aws-user-personalization", "solutionConfig": {"algorithmHyperParameters": SMALL}}
    few = planted(users_per_cluster=15, per_user=10, seed=1).interactions  # 300 interactions
    result = run_job(tmp_path, write_channel(tmp_path, config, csv_rows(few)))
    assert result.returncode != 0
    reason = (tmp_path / "output" / "failure").read_text()
    assert "1000 interactions" in reason and "300" in reason
    assert "training failed" in result.stderr
    assert not (tmp_path / "model" / "manifest.json").exists()


def test_event_type_filtering_counts_towards_the_minimum(tmp_path, data, monkeypatch):
    config = {"recipe": "aws-popularity-count", "eventType": "Purchase"}
    channel = write_channel(tmp_path, config, csv_rows(data.interactions, "View"))  # no purchases at all
    assert run_in_process(tmp_path, channel, monkeypatch) == 1
    assert "found 0" in (tmp_path / "output" / "failure").read_text()


@pytest.mark.parametrize(
    "config, words",
    [
        ({"recipe": "aws-no-such-recipe"}, "cannot train recipe 'aws-no-such-recipe'"),
        (
            {
                "recipe": "aws-user-personalization",
                "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "many"}},
            },
            "algorithmHyperParameters.hidden_dimension",
        ),
        ({"recipe": "aws-user-personalization", "trainingMode": "UPDATE"}, "trainingMode UPDATE"),
    ],
)
def test_unusable_jobs_fail_with_a_reason(tmp_path, data, monkeypatch, config, words):
    channel = write_channel(tmp_path, config, csv_rows(data.interactions))
    assert run_in_process(tmp_path, channel, monkeypatch) == 1
    assert words in (tmp_path / "output" / "failure").read_text()


def test_missing_config_fails(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    assert run_in_process(tmp_path, tmp_path / "empty", monkeypatch) == 1
    assert "config.json" in (tmp_path / "output" / "failure").read_text()


def test_update_mode_refreshes_the_previous_model(tmp_path, trained, data, monkeypatch):
    previous_root, result = trained
    assert result.returncode == 0
    d = data.interactions
    extra = "".join(
        f"{d.user_ids[u]},brand-new,{d.latest_timestamp + n + 1},View\n"
        for n, u in enumerate(data.users_of(1)[:30].tolist())
    )
    config = {
        "recipe": "aws-user-personalization",
        "trainingMode": "UPDATE",
        "seed": 7,
        "solutionConfig": {"algorithmHyperParameters": SMALL},
    }
    channel = write_channel(tmp_path, config, csv_rows(d) + extra)
    shutil.copytree(previous_root / "model", channel / "previous_model")
    assert run_in_process(tmp_path, channel, monkeypatch) == 0
    previous, updated = load_dir(previous_root / "model"), load_dir(tmp_path / "model")
    assert "brand-new" in updated.item_ids.tolist()
    index = {item: i for i, item in enumerate(updated.item_ids.tolist())}
    old_index = {item: i for i, item in enumerate(previous.item_ids.tolist())}
    # Known items keep their factors (UPDATE does not refit); the new one gets a factor.
    for item in ("i0", "i25"):
        np.testing.assert_array_equal(
            updated.arrays["item_factors"][index[item]], previous.arrays["item_factors"][old_index[item]]
        )
    assert np.linalg.norm(updated.arrays["item_factors"][index["brand-new"]]) > 0
    assert set(updated.info["metrics"]) == METRIC_KEYS


def test_hpo_returns_tuned_parameters(tmp_path, data):
    config = {
        "recipe": "aws-user-personalization",
        "performHPO": True,
        "seed": 3,
        "solutionConfig": {
            "algorithmHyperParameters": SMALL,
            "hpoConfig": {
                "hpoObjective": {"type": "Maximize", "metricName": "precision_at_10"},
                "hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"},
                "algorithmHyperParameterRanges": {
                    "integerHyperParameterRanges": [
                        {"name": "hidden_dimension", "minValue": 4, "maxValue": 12}
                    ],
                    "continuousHyperParameterRanges": [
                        {"name": "als_regularization", "minValue": 0.01, "maxValue": 1.0}
                    ],
                },
            },
        },
    }
    result = run_job(tmp_path, write_channel(tmp_path, config, csv_rows(data.interactions)))
    assert result.returncode == 0, result.stderr
    artifact = load_dir(tmp_path / "model")
    tuned = artifact.info["tunedHPOParams"]["algorithmHyperParameters"]
    assert 4 <= int(tuned["hidden_dimension"]) <= 12
    assert 0.01 <= float(tuned["als_regularization"]) <= 1.0
    assert artifact.arrays["item_factors"].shape[1] == int(tuned["hidden_dimension"])
    trials = artifact.info["hpoTrials"]
    assert len(trials) == 3 and all("precision_at_10" in trial for trial in trials)
    best = max(trials, key=lambda trial: trial["precision_at_10"])
    assert best["hyperParameters"] == tuned
    # The final model is trained with them ("auto" exclusion settled on the holdout).
    settled = {
        **tuned,
        "exclude_interacted_items": artifact.info["hyperParameters"]["exclude_interacted_items"],
    }
    assert artifact.info["hyperParameters"] == settled


def test_hpo_trials_stay_inside_the_ranges(data):
    from training.data import TrainingJob

    job = TrainingJob(
        config={
            "recipe": "aws-user-personalization",
            "performHPO": True,
            "seed": 3,
            "solutionConfig": {
                "algorithmHyperParameters": {"als_iterations": "3"},
                "hpoConfig": {
                    "hpoResourceConfig": {"maxNumberOfTrainingJobs": "2"},
                    "algorithmHyperParameterRanges": {
                        "integerHyperParameterRanges": [
                            {"name": "hidden_dimension", "minValue": 4, "maxValue": 12}
                        ]
                    },
                },
            },
        },
        interactions=data.interactions,
    )
    artifact = train_module.run(job)
    assert all(
        4 <= int(trial["hyperParameters"]["hidden_dimension"]) <= 12 for trial in artifact.info["hpoTrials"]
    )


def test_the_channel_table_is_mapped_not_copied(tmp_path, data):
    from training.data import load_channel

    config = {"recipe": "aws-user-personalization", "trainingMode": "FULL"}
    channel = write_channel(tmp_path, config, csv_rows(data.interactions))
    job = load_channel(channel)
    table_users = job.interactions_table["USER_ID"].data
    assert not table_users.flags.owndata and not table_users.flags.writeable
    # Every code is in use and no event filter applies: the interactions are the table's columns.
    assert job.interactions.users is table_users or np.shares_memory(job.interactions.users, table_users)
    assert job.interactions.users.dtype == np.int32
    assert not job.interactions.weights.flags.writeable and job.interactions.weights.strides == (0,)
    assert len(job.interactions) == len(data.interactions)


def test_the_served_model_uses_the_loaded_arrays_in_place(trained):
    root, result = trained
    assert result.returncode == 0, result.stderr
    artifact = load_dir(root / "model")
    model = FactorModel(artifact)
    for name in ("history_confidence", "item_factors", "user_factors", "history_items"):
        stored = artifact.arrays[name]
        assert not stored.flags.owndata and not stored.flags.writeable, name  # a view into the mapped file
        assert np.shares_memory(getattr(model, name), stored), name
    user = int(np.flatnonzero(np.diff(model.history_indptr) > 0)[0])
    items, weights = model.history(user)
    start, end = model.history_indptr[user], model.history_indptr[user + 1]
    assert weights.dtype == np.float64 and items.dtype == np.int64
    assert np.array_equal(weights, artifact.arrays["history_confidence"][start:end].astype(np.float64))
