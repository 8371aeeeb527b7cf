"""Where the time goes: wall-clock timers wrapped around named functions, per thread, nested.

The training benchmark installs these in its own process (the emulator's import and
solution-version steps run there) and, through ``python -m bench.stages``, inside the training
subprocess: ``LocalTrainingJobs`` runs ``<python> -m training.train``; pointing its interpreter
at a two-line shell wrapper that runs this module instead keeps everything else identical
(channel, environment, SageMaker contract) and writes the subprocess' stage times to
``$PICKS_BENCH_STAGES`` as JSON.  Each wrapper costs a few microseconds per call; the wrapped
functions run for milliseconds to minutes.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

STAGES_ENV = "PICKS_BENCH_STAGES"


class StageTimer:
    """Inclusive seconds and call counts per call path (``outer/inner``), across threads."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}
        self._first_start: dict[str, int] = {}
        self.missing: list[str] = []
        self._local = threading.local()
        self._lock = threading.Lock()

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        if getattr(function, "_bench_stage", None):
            return function

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = self._local.__dict__.setdefault("stack", [])
            stack.append(name)
            path = "/".join(stack)
            if path not in self._first_start:
                with self._lock:
                    self._first_start.setdefault(path, len(self._first_start))
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                stack.pop()
                with self._lock:
                    entry = self.totals.setdefault(path, [0.0, 0])
                    entry[0] += elapsed
                    entry[1] += 1

        timed._bench_stage = True  # type: ignore[attr-defined]
        return timed

    def patch(self, owner: Any, attribute: str, name: str | None = None) -> None:
        """Time ``owner.attribute`` from now on; skipped (and listed in ``missing``) if the code moved on."""
        if not callable(getattr(owner, attribute, None)):
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{attribute}")
            return
        setattr(owner, attribute, self.wrap(name or attribute, getattr(owner, attribute)))

    def rows(self) -> list[tuple[str, float, int]]:
        """(path, seconds, calls) in the order the paths were first entered (parents before children)."""
        with self._lock:
            items = {path: (seconds, int(calls)) for path, (seconds, calls) in self.totals.items()}
            order = dict(self._first_start)
        return [(path, *items[path]) for path in sorted(items, key=lambda p: order.get(p, 1 << 30))]


def install_training(timer: StageTimer) -> None:
    """Timers inside ``training.train`` (the subprocess' work), for any recipe."""
    from picks.serving import batch_ranking

    import training.context as context
    import training.data as data
    import training.evaluation as evaluation
    import training.history as history
    import training.repeats as repeats
    import training.train as train
    from training.recipes import sims, user_personalization

    timer.patch(train, "load_channel")
    timer.patch(data, "read_table_folder", "read_tables")
    timer.patch(data, "interactions_from_table")
    timer.patch(train, "save_dir", "save_artifact")
    timer.patch(train, "split", "holdout_split")
    timer.patch(train, "evaluate_model", "evaluate")
    timer.patch(train, "evaluate_exclusion")
    timer.patch(train, "serving_model")
    timer.patch(evaluation, "coverage")
    timer.patch(batch_ranking, "recommend_sequences")
    timer.patch(batch_ranking, "rank_sequences")
    timer.patch(batch_ranking, "recommend_known_users")
    timer.patch(batch_ranking, "rank_known_users")
    timer.patch(evaluation, "coverage_both_ways")
    timer.patch(user_personalization, "prepare")
    timer.patch(data.Interactions, "subset", "interactions_subset")
    timer.patch(user_personalization.Prepared, "without", "prepared_without")
    timer.patch(user_personalization, "fit", "fit")
    timer.patch(user_personalization, "refresh", "refresh")
    timer.patch(user_personalization, "confidence_matrix")
    timer.patch(user_personalization, "_solve_rows", "solve_rows")
    timer.patch(user_personalization, "recent_items")
    timer.patch(user_personalization, "cooccurrence_neighbors", "neighbours")
    timer.patch(user_personalization, "_artifact", "build_artifact")
    timer.patch(user_personalization, "unique_user_counts")
    timer.patch(user_personalization, "recent_matrix")
    timer.patch(user_personalization, "_cooccurrence_input_and_examples", "cooccurrence_input_and_examples")
    timer.patch(user_personalization, "neighbor_lists")
    timer.patch(user_personalization, "_fit_factors", "als_fit")
    timer.patch(history, "attach", "history_attach")
    timer.patch(repeats, "table", "repeat_table")
    timer.patch(repeats, "examples", "repeat_examples")
    timer.patch(repeats.Examples, "table", "repeat_table_count")
    timer.patch(context, "attach", "context_attach")
    timer.patch(sims, "fit", "sims_fit")
    timer.patch(sims, "neighbor_lists")


def install_emulator(timer: StageTimer) -> None:
    """Timers on the emulator's side: the import step and the solution-version steps."""
    from picks.ingest import columnar, importer
    from picks.workflows import solution_version

    import functions.workflow_steps.handler as steps
    from emulator import training_jobs

    for key in list(steps.ACTIONS):
        if key.startswith(("dataset_import.", "solution_version.")):
            steps.ACTIONS[key] = timer.wrap(key, steps.ACTIONS[key])
    timer.patch(importer, "_read_object", "s3_get_csv")
    timer.patch(importer, "read_csv", "parse_and_validate_csv")
    timer.patch(importer, "deduplicate")
    timer.patch(importer, "write_table")
    timer.patch(columnar, "serialize", "serialize_table")
    timer.patch(solution_version, "_copy_table", "stage_channel_tables")
    timer.patch(solution_version, "_check_model_files", "check_model_files")
    timer.patch(solution_version, "_read_archive", "read_model_archive")
    timer.patch(solution_version, "publish_files", "publish_model")
    timer.patch(solution_version, "_set", "update_resource")
    timer.patch(solution_version, "_follow_latest", "follow_latest_campaigns")
    timer.patch(training_jobs.LocalTrainingJobs, "run", "training_job")
    timer.patch(training_jobs.LocalTrainingJobs, "_download_channel", "download_channel")
    timer.patch(training_jobs.LocalTrainingJobs, "_upload_model", "archive_and_upload_model")


def wrapper_script(directory: Path, python: str = sys.executable) -> Path:
    """An executable that ``LocalTrainingJobs`` can run as its interpreter: ``<it> -m training.train``."""
    path = directory / "python-with-stage-timers"
    path.write_text(f'#!/bin/sh\nexec {python} -m bench.stages "$@"\n')
    path.chmod(0o755)
    return path


def _child() -> int:
    """Run ``training.train.main`` with timers; write them to ``$PICKS_BENCH_STAGES``."""
    started = time.perf_counter()
    timer = StageTimer()
    install_training(timer)
    import training.train as train

    imported = time.perf_counter() - started
    code = timer.wrap("training.train.main", train.main)()
    out = os.environ.get(STAGES_ENV)
    if out:
        Path(out).write_text(
            json.dumps(
                {
                    "imports_seconds": imported,
                    "total_seconds": time.perf_counter() - started,
                    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    "stages": timer.rows(),
                    "missing": timer.missing,
                }
            )
        )
    return int(code)


if __name__ == "__main__":
    sys.exit(_child())
