"""``picks.services.build`` is the one Services factory: Lambda calls it bare, the emulator and the
tests inject their runners into it."""

from __future__ import annotations

from picks import services as picks_services
from picks.settings import Settings
from picks.workflows.starter import StepFunctionsStarter
from picks.workflows.training_jobs import SageMakerTrainingJobs


def _settings(training_jobs: str | None = None) -> Settings:
    return Settings(
        region="us-east-1",
        account="000000000000",
        table_name="t",
        bucket_name="b",
        training_jobs=training_jobs,
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def start(self, workflow: str, execution_name: str, payload: dict[str, object]) -> str:
        self.calls.append((workflow, execution_name))
        return "started"

    def stop(self, job_name: str) -> None:
        self.calls.append(("stop", job_name))


def test_lambda_gets_step_functions_and_sagemaker_from_its_settings(aws):
    built = picks_services.build(_settings("sagemaker"), session=aws)

    assert isinstance(built.workflows, StepFunctionsStarter)
    assert isinstance(built.training_jobs, SageMakerTrainingJobs)
    assert built.events is not None and built.metadata is not None and built.sts is not None


def test_without_sagemaker_in_the_settings_nothing_stops_jobs(aws):
    assert picks_services.build(_settings(), session=aws).training_jobs is None


def test_injected_runners_win_over_the_settings(aws):
    runner = Recorder()
    built = picks_services.build(_settings("sagemaker"), session=aws, workflows=runner, training_jobs=runner)

    assert built.workflows.start("DatasetImport", "job", {}) == "started"
    built.training_jobs.stop("job-1")
    assert runner.calls == [("DatasetImport", "job"), ("stop", "job-1")]
