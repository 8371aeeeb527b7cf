"""The training entry point, under the SageMaker training contract.

Inputs: the ``train`` channel (``SM_CHANNEL_TRAIN``, default ``/opt/ml/input/data/train``) with
``config.json`` (recipe, solution config, training mode, seed) and one columnar table folder per
dataset (``interactions/``, optional ``items/``, ``users/``, ``previous_model/``).
Outputs: the model artifact (``picks.model_artifact``) in ``SM_MODEL_DIR`` (``/opt/ml/model``),
which SageMaker uploads file by file (``CompressionType NONE``); on failure a one-line reason in
``SM_OUTPUT_DIR/failure`` (``/opt/ml/output/failure``), which SageMaker reports as the job's
FailureReason, and a non-zero exit.

The same module runs as a SageMaker job and as the emulator's subprocess
(``emulator.training_jobs``).  A channel whose ``config.json`` names a ``task`` is a batch job's:
``"batch-inference"`` runs ``training.batch_inference``, ``"batch-segment"``
``training.batch_segment``, ``"import"`` ``training.import_job`` (a large dataset import; same
contract: channel in, files in the model directory out, a reason in ``failure``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from picks.model_artifact import ModelArtifact, save_dir
from picks.serving.rankers import serving_model

from training import (
    batch_inference,
    batch_segment,
    context,
    evaluation,
    exploration,
    history,
    import_job,
    metadata,
)
from training.data import (
    Interactions,
    TrainingDataError,
    TrainingJob,
    check_minimums,
    event_rule,
    load_channel,
)
from training.evaluation import evaluate as evaluate_model
from training.evaluation import evaluate_exclusion, split
from training.recipes import RECIPE_MODULES
from training.recipes.common import resolved_hyperparameters

if TYPE_CHECKING:
    from collections.abc import Mapping

HPO_OBJECTIVE = "normalized_discounted_cumulative_gain_at_10"
AUTO_OBJECTIVE = "normalized_discounted_cumulative_gain_at_25"


def _paths() -> tuple[Path, Path, Path]:
    return (
        Path(os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train")),
        Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model")),
        Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")),
    )


def _hyperparameters() -> dict[str, str]:
    if os.environ.get("SM_HPS"):
        return {k: str(v) for k, v in json.loads(os.environ["SM_HPS"]).items()}
    path = Path("/opt/ml/input/config/hyperparameters.json")
    return {k: str(v) for k, v in json.loads(path.read_text()).items()} if path.is_file() else {}


def _fit_and_measure(
    module: Any,
    interactions: Interactions,
    params: Mapping[str, str],
    seed: int,
    previous: ModelArtifact | None = None,
    fitted: threading.Event | None = None,
    rule: dict[str, Any] | None = None,
    tables: Mapping[str, Any] | None = None,
    prepared: Any = None,
) -> tuple[ModelArtifact, ModelArtifact, dict]:
    """(model on the holdout split, final model on all data, holdout metrics); ``fitted`` is set
    once the split model is trained.  ``rule``: the solution's ``event_rule``, which both models
    carry, so the held-out users' input is folded in with the event weights training used.
    ``tables``: the dataset tables the recipe's ``fit`` takes (``_fit_tables``).  ``prepared``:
    the recipe's ``prepare`` output built earlier in the job (``_prepared``), used where it fits."""
    tables = tables or {}
    holdout = split(interactions, seed)
    train_part = interactions.subset(holdout.train_mask)
    # What the recipe derives from the interactions (and tables) alone is built once, on all of
    # them; the split model gets the same without the held-out users' rows (identical to building
    # it on train_part).
    full = _prepared(module, interactions, params, tables, prepared)
    on_split = {} if full is None else {"prepared": full.without(holdout.users)}
    if previous is not None:
        split_model = module.refresh(previous, train_part, params, **on_split)
    else:
        split_model = module.fit(train_part, params, seed=seed, **on_split, **tables)
    del on_split
    if fitted is not None:
        fitted.set()
    if rule is not None:
        split_model.info["eventRule"] = rule
    serving = serving_model(split_model)
    chosen_exclude = None
    if str(params.get("exclude_interacted_items", "")).lower() == "auto":
        # Scoring-only choice: the same model, served with and without the user's history left out
        # (the held-out users scored once, ranked both ways).  The coverage of either choice is
        # computed meanwhile on a second thread (scoring is single-threaded: the other core is
        # free but for the filter arrays' thread).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="picks-coverage") as pool:
            coverages = pool.submit(evaluation.coverage_both_ways, serving, interactions)
            excluding, keeping = evaluate_exclusion(serving, interactions, holdout)
            exclude = excluding[AUTO_OBJECTIVE] >= keeping[AUTO_OBJECTIVE]
            # What evaluate_model would report as coverage for the model served as chosen.
            metrics = {
                **(excluding if exclude else keeping),
                "coverage": coverages.result()[0 if exclude else 1],
            }
        split_model.info["exclude_interacted_items"] = exclude
        chosen_exclude = exclude
    else:
        metrics = evaluate_model(serving, interactions, holdout)
    if hasattr(module, "refresh"):
        # Only the held-out users' histories differ between the split and the full data.
        final = module.refresh(
            split_model,
            interactions,
            params,
            users=holdout.users,
            **({} if full is None else {"prepared": full}),
        )
    else:
        final = module.fit(
            interactions, params, seed=seed, **tables, **({} if full is None else {"prepared": full})
        )
    if rule is not None:
        final.info["eventRule"] = rule  # the runtime folds in real-time events as training kept rows
    if chosen_exclude is not None:
        # Settled here rather than in params: an explicit "true" also turns re-recommending off.
        final.info["exclude_interacted_items"] = chosen_exclude
        final.info["hyperParameters"]["exclude_interacted_items"] = "true" if chosen_exclude else "false"
    return split_model, final, metrics


def _sample_hyperparameters(ranges: Mapping[str, Any], rng: np.random.Generator) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for spec in ranges.get("integerHyperParameterRanges") or []:
        chosen[spec["name"]] = str(int(rng.integers(int(spec["minValue"]), int(spec["maxValue"]) + 1)))
    for spec in ranges.get("continuousHyperParameterRanges") or []:
        chosen[spec["name"]] = repr(float(rng.uniform(float(spec["minValue"]), float(spec["maxValue"]))))
    for spec in ranges.get("categoricalHyperParameterRanges") or []:
        chosen[spec["name"]] = str(rng.choice(spec["values"]))
    return chosen


def _inside(params: Mapping[str, str], ranges: Mapping[str, Any]) -> bool:
    try:
        for spec in (ranges.get("integerHyperParameterRanges") or []) + (
            ranges.get("continuousHyperParameterRanges") or []
        ):
            if not float(spec["minValue"]) <= float(params[spec["name"]]) <= float(spec["maxValue"]):
                return False
        for spec in ranges.get("categoricalHyperParameterRanges") or []:
            if str(params[spec["name"]]) not in [str(v) for v in spec["values"]]:
                return False
    except (KeyError, ValueError):
        return False
    return True


def _prepared(
    module: Any,
    interactions: Interactions,
    params: Mapping[str, str],
    tables: Mapping[str, Any],
    earlier: Any = None,
) -> Any:
    """The recipe's ``prepare`` output for ``interactions`` (and the ``tables`` its ``fit`` takes)
    under ``params``: ``earlier`` where it fits them, else built; None for a recipe without one."""
    if not hasattr(module, "prepare"):
        return None
    if earlier is not None and earlier.fits(interactions, params):
        return earlier
    return module.prepare(interactions, params, **tables)


def _tune(
    module: Any, job: TrainingJob, params: dict[str, str], prepared: Any = None
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Random search over ``hpoConfig`` ranges, scored on the holdout; returns the best parameters.
    ``prepared``: the recipe's ``prepare`` output for the job's interactions, where built already."""
    solution_config = job.config.get("solutionConfig") or {}
    hpo = solution_config.get("hpoConfig") or {}
    ranges = hpo.get("algorithmHyperParameterRanges") or {}
    trials = int((hpo.get("hpoResourceConfig") or {}).get("maxNumberOfTrainingJobs") or 8)
    objective = (hpo.get("hpoObjective") or {}).get("metricName") or HPO_OBJECTIVE
    rng = np.random.default_rng(job.seed)
    holdout = split(job.interactions, job.seed + 1)  # tune on a different split than the reported one
    train_part = job.interactions.subset(holdout.train_mask)
    # Trials whose hyperparameters leave it unchanged share it (the recipe checks; others rebuild).
    tables = _fit_tables(module, job)
    full = _prepared(module, job.interactions, params, tables, prepared)
    on_split = {} if full is None else {"prepared": full.without(holdout.users)}
    del full
    rule = event_rule(job.interactions_table, job.config) if job.interactions_table is not None else None
    best, best_score, history = params, -np.inf, []
    for trial in range(max(1, trials)):
        # The defaults are the first candidate only where they fall inside the ranges asked for.
        use_defaults = trial == 0 and _inside(params, ranges)
        candidate = params if use_defaults else {**params, **_sample_hyperparameters(ranges, rng)}
        model = module.fit(train_part, candidate, seed=job.seed, **on_split, **tables)
        if rule is not None:
            model.info["eventRule"] = rule
        score = evaluate_model(serving_model(model), job.interactions, holdout).get(objective, 0.0)
        history.append({"hyperParameters": candidate, objective: score})
        if score > best_score:
            best, best_score = candidate, score
    return best, history


def _fit_tables(module: Any, job: TrainingJob) -> dict[str, Any]:
    """The dataset tables (``items``, ``users``) a recipe's ``fit`` takes by name besides the
    interactions, as its ``TABLES`` lists them."""
    return {name: getattr(job, name) for name in getattr(module, "TABLES", ())}


def _filter_arrays(job: TrainingJob, start: threading.Event | None = None) -> ModelArtifact:
    """``history.attach``'s arrays for a model over the interactions' items (an otherwise empty
    artifact), once ``start`` is set."""
    assert job.interactions_table is not None
    if start is not None:
        start.wait()
    scratch = ModelArtifact(recipe=job.recipe, recipe_type="", item_ids=job.interactions.item_ids)
    history.attach(scratch, job.interactions_table)
    return scratch


def _checked(module: Any, job: TrainingJob) -> tuple[TrainingJob, dict[str, str]]:
    """(the job as the recipe trains it, its hyperparameters) once the data meets the recipe's
    minimums.  A domain use case checks its own (``training.recipes.use_cases``) and may keep only
    the events its model learns from."""
    solution_config = job.config.get("solutionConfig") or {}
    params = {
        # A domain use case's own defaults (its catalog entry has none: recommenders take none).
        **getattr(module, "DEFAULTS", {}),
        **resolved_hyperparameters(
            job.recipe,
            {
                **(solution_config.get("featureTransformationParameters") or {}),
                **(solution_config.get("algorithmHyperParameters") or {}),
            },
        ),
    }
    if hasattr(module, "training_job"):  # a domain use case: its data requirements, its event types
        job = module.training_job(job)
    else:
        check_minimums(job.interactions)
    return job, params


def run(job: TrainingJob) -> ModelArtifact:
    module = RECIPE_MODULES.get(job.recipe)
    if module is None:
        raise TrainingDataError(f"recipeArn: picks cannot train recipe '{job.recipe}'.")
    job, params = _checked(module, job)
    rule = event_rule(job.interactions_table, job.config) if job.interactions_table is not None else None
    started = time.time()
    info: dict[str, Any] = {}
    fitted = threading.Event()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="picks-history") as pool:
        # The interaction filters' arrays need only the table and the model's item ids (the
        # interactions' own): built on a second thread while the holdout is evaluated (mostly one
        # core's work; before that, preparing and fitting keep both cores busy).
        filters = pool.submit(_filter_arrays, job, fitted) if job.interactions_table is not None else None
        try:
            if hasattr(module, "fit_and_measure"):  # USER_SEGMENTATION: its own holdout and metrics
                final, metrics = module.fit_and_measure(job, params)
            elif job.training_mode == "UPDATE":
                if job.previous_model is None or not hasattr(module, "refresh"):
                    raise TrainingDataError(
                        "trainingMode UPDATE needs a FULL version of a user-personalization solution."
                    )
                _, final, metrics = _fit_and_measure(
                    module, job.interactions, params, job.seed, job.previous_model, fitted, rule
                )
            else:
                tables = _fit_tables(module, job)
                prepared = None
                if job.config.get("performHPO"):
                    # Built once for the trials and the final fit (rebuilt there if the tuned
                    # hyperparameters change what it depends on).
                    prepared = _prepared(module, job.interactions, params, tables)
                    params, trials = _tune(module, job, params, prepared)
                    info["tunedHPOParams"] = {"algorithmHyperParameters": params}
                    info["hpoTrials"] = trials
                _, final, metrics = _fit_and_measure(
                    module,
                    job.interactions,
                    params,
                    job.seed,
                    fitted=fitted,
                    rule=rule,
                    tables=tables,
                    prepared=prepared,
                )
                del prepared
        finally:
            fitted.set()  # never leave the thread waiting
        filtered = filters.result() if filters is not None else None
    final.info.update(info)
    if final.recipe_type == "USER_PERSONALIZATION":
        # First: it appends the ITEMS dataset's items no interaction names to the model's items.
        exploration.attach(final, job)
        # Then: the cold items (appended ones included) and users get their metadata's vectors.
        metadata.attach(final, job, params)
    if job.interactions_table is not None:
        assert filtered is not None
        if exploration.same_leading_items(filtered.item_ids, final.item_ids):
            final.strings.update(filtered.strings)
            final.arrays.update(filtered.arrays)
            exploration.widen_item_indices(final)
        else:  # a recipe whose model indexes items differently
            history.attach(final, job.interactions_table)
        if final.recipe_type in ("USER_PERSONALIZATION", "PERSONALIZED_RANKING"):
            context.attach(final, job.interactions_table)
    final.info["metrics"] = {name: round(float(value), 6) for name, value in metrics.items()}
    final.info["trainingSeconds"] = round(time.time() - started, 3)
    final.info["counts"] = {
        "interactions": len(job.interactions),
        "users": job.interactions.user_count,
        "items": job.interactions.item_count,
    }
    return final


def _task(channel: Path) -> str | None:
    """The channel's ``config.json`` ``task``: None for a training, else the batch job to run."""
    try:
        task = json.loads((channel / "config.json").read_text()).get("task")
    except (OSError, ValueError, AttributeError):
        return None  # load_channel reports a missing or unreadable config
    return str(task) if task else None


def main(argv: list[str] | None = None) -> int:
    channel, model_dir, output_dir = _paths()
    task = _task(channel)
    if task == batch_inference.TASK:
        return batch_inference.main(channel, model_dir, output_dir)
    if task == batch_segment.TASK:
        return batch_segment.main(channel, model_dir, output_dir)
    if task == import_job.TASK:
        return import_job.main(channel, model_dir, output_dir)
    try:
        job = load_channel(channel, _hyperparameters())
        artifact = run(job)
        save_dir(artifact, model_dir)
        (model_dir / "metrics.json").write_text(json.dumps(artifact.info["metrics"], indent=1))
        print(json.dumps({"recipe": job.recipe, "metrics": artifact.info["metrics"]}), flush=True)
        return 0
    except TrainingDataError as error:
        reason = str(error)
        code = 1
    except Exception as error:  # noqa: BLE001 - any crash must still leave a reason for the job
        traceback.print_exc()
        reason = f"Internal training error: {type(error).__name__}: {error}"
        code = 2
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "failure").write_text(reason[:1000])
    print(f"training failed: {reason}", file=sys.stderr, flush=True)
    return code


def run_and_exit() -> None:
    """``main()`` as a process: flush, then leave without the interpreter's teardown.  The job's
    files and exit code are final by then, and native thread pools (pyarrow's CSV reader) can abort
    that teardown ("terminate called without an active exception"), turning a finished job into a
    failed one."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run_and_exit()
