"""Resource records: the document Describe returns, and the private state picks keeps beside it.

``Resource.doc`` holds only members of the resource's Describe output shape (``to_wire``), so what
a client reads never depends on the serializer dropping unmodelled keys.  What picks needs and
never returns — the trained model a version produced, the data an import left on a dataset, the
version a campaign serves — is ``Resource.state``, a typed record per resource kind
(``DatasetState``, ``SolutionVersionState``, ``CampaignState``, ``RecommenderState``; ``NoState`` for
the others),
stored beside the document (``picks.dal.resources``) and read as ``version.version_state.model``.

Records written before the state had its own attribute kept it in the document under
underscore-prefixed keys; ``split_legacy_state`` moves them out when such a record is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

# Resource kinds (the ARN's resource type) that more than one layer names.
DATASET_KIND = "dataset"
SCHEMA_KIND = "schema"
SOLUTION_VERSION_KIND = "solution-version"
CAMPAIGN_KIND = "campaign"
TRACKER_KIND = "event-tracker"
BATCH_INFERENCE_JOB_KIND = "batch-inference-job"
BATCH_SEGMENT_JOB_KIND = "batch-segment-job"
RECOMMENDER_KIND = "recommender"
# The pending update inside a campaign's document (a member of the Campaign shape).
CAMPAIGN_UPDATE = "latestCampaignUpdate"
# ... and inside a recommender's (a member of the Recommender shape).
RECOMMENDER_UPDATE = "latestRecommenderUpdate"


@dataclass(frozen=True)
class TableRef:
    """A dataset's imported data: the columnar table under ``prefix`` (``picks.ingest.columnar``)."""

    prefix: str
    row_count: int = 0
    job: str | None = None  # the import job that wrote it

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "rowCount": self.row_count, "job": self.job}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableRef:
        return cls(prefix=data["prefix"], row_count=int(data.get("rowCount", 0)), job=data.get("job"))


@dataclass(frozen=True)
class ModelRef:
    """A solution version's trained model: the artifact files under ``prefix`` (``picks.model_artifact``)."""

    prefix: str
    recipe: str
    recipe_type: str
    events_until: int = 0  # epoch ms: events received after this are newer than the model

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "recipe": self.recipe,
            "recipeType": self.recipe_type,
            "eventsUntil": self.events_until,
        }

    @classmethod
    def from_manifest(cls, prefix: str, manifest: dict[str, Any], events_until: int) -> ModelRef:
        """The model published under ``prefix`` with this manifest (``picks.model_artifact``)."""
        return cls(prefix, manifest["recipe"], manifest["recipeType"], events_until)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelRef:
        return cls(
            prefix=data["prefix"],
            recipe=data["recipe"],
            recipe_type=data["recipeType"],
            events_until=int(data.get("eventsUntil", 0)),
        )


@dataclass(frozen=True)
class ModelUpdate:
    """One automatic update of a version's model (``picks.workflows.model_update``): the UPDATE
    training of the version's current model on what arrived since, published in place."""

    started: float  # epoch s: when the schedule claimed it
    job_name: str  # its training job (unique per update)
    status: str  # CREATE IN_PROGRESS, then ACTIVE (the version serves its model) or CREATE FAILED
    finished: float | None = None
    events_until: int = 0  # epoch ms: the cut-off of the real-time events it trained on
    failure_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "started": self.started,
            "jobName": self.job_name,
            "status": self.status,
            "finished": self.finished,
            "eventsUntil": self.events_until,
            "failureReason": self.failure_reason,
        }
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelUpdate:
        return cls(
            started=float(data["started"]),
            job_name=data["jobName"],
            status=data["status"],
            finished=data.get("finished"),
            events_until=int(data.get("eventsUntil", 0)),
            failure_reason=data.get("failureReason"),
        )


@dataclass
class NoState:
    """Kinds whose record is their document alone."""

    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NoState:
        return cls()


@dataclass
class DatasetState:
    data: TableRef | None = None  # set by a finished import; None until the first one

    @property
    def data_prefix(self) -> str | None:
        return self.data.prefix if self.data is not None else None

    def to_json(self) -> dict[str, Any]:
        return {"data": self.data.to_json()} if self.data is not None else {}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetState:
        table = data.get("data")
        return cls(data=TableRef.from_json(table) if table else None)


@dataclass
class SolutionVersionState:
    model: ModelRef | None = None  # set when the version becomes ACTIVE
    metrics: dict[str, float] = field(default_factory=dict)  # GetSolutionMetrics' answer
    training_job_name: str | None = None  # the SageMaker job, once the workflow started it
    events_until: int = 0  # epoch ms: the cut-off of the real-time events the job trains on
    # The automatic updates of its model, oldest first (the last ``model_update.HISTORY``): Describe
    # has no member for them, so they are picks' own record (docs/schedules.md: how to read it).
    updates: list[ModelUpdate] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.model is not None:
            data["model"] = self.model.to_json()
        if self.updates:
            data["updates"] = [update.to_json() for update in self.updates]
        if self.metrics:
            data["metrics"] = self.metrics
        if self.training_job_name is not None:
            data["trainingJobName"] = self.training_job_name
        if self.events_until:
            data["eventsUntil"] = self.events_until
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SolutionVersionState:
        model = data.get("model")
        return cls(
            model=ModelRef.from_json(model) if model else None,
            metrics=dict(data.get("metrics") or {}),
            training_job_name=data.get("trainingJobName"),
            events_until=int(data.get("eventsUntil", 0)),
            updates=[ModelUpdate.from_json(update) for update in data.get("updates") or []],
        )


@dataclass
class CampaignState:
    # The concrete version served: the campaign's solutionVersionArn may be <solutionArn>/$LATEST.
    serving_version_arn: str | None = None
    dataset_group_arn: str | None = None  # for the per-dataset-group campaign quota
    # The concrete version the pending latestCampaignUpdate named when it was requested.
    update_serving_version_arn: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "servingVersionArn": self.serving_version_arn,
            "datasetGroupArn": self.dataset_group_arn,
            "updateServingVersionArn": self.update_serving_version_arn,
        }
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CampaignState:
        return cls(
            serving_version_arn=data.get("servingVersionArn"),
            dataset_group_arn=data.get("datasetGroupArn"),
            update_serving_version_arn=data.get("updateServingVersionArn"),
        )


@dataclass
class RecommenderState:
    """What a recommender serves and how it is kept fresh (``picks.workflows.recommender``)."""

    model: ModelRef | None = None  # the model served; set when it first becomes ACTIVE
    metrics: dict[str, float] = field(default_factory=dict)  # the last full training's holdout metrics
    training_job_name: str | None = None  # the job of its creation or of a retraining config update
    events_until: int = 0  # epoch ms: the cut-off of the real-time events that job trains on
    retrained: float = 0.0  # epoch s: when its last full training started (weekly retraining)
    # Its automatic updates and weekly retrainings, oldest first (the last ``HISTORY``); Describe has
    # no member for them, so they are picks' own record, as for solution versions.
    maintenance: list[ModelUpdate] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.model is not None:
            data["model"] = self.model.to_json()
        if self.metrics:
            data["metrics"] = self.metrics
        if self.training_job_name is not None:
            data["trainingJobName"] = self.training_job_name
        if self.events_until:
            data["eventsUntil"] = self.events_until
        if self.retrained:
            data["retrained"] = self.retrained
        if self.maintenance:
            data["maintenance"] = [update.to_json() for update in self.maintenance]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecommenderState:
        model = data.get("model")
        return cls(
            model=ModelRef.from_json(model) if model else None,
            metrics=dict(data.get("metrics") or {}),
            training_job_name=data.get("trainingJobName"),
            events_until=int(data.get("eventsUntil", 0)),
            retrained=float(data.get("retrained", 0.0)),
            maintenance=[ModelUpdate.from_json(update) for update in data.get("maintenance") or []],
        )


@dataclass
class BatchJobState:
    """A batch job's run (``picks.workflows.batch_jobs``): where its input was staged, and as what."""

    job_name: str | None = None  # the SageMaker-contract job that scores it
    channel: str | None = None  # its channel's prefix in the picks bucket
    # The input files, relative to the input location (the output of ``a/b.json`` is ``a/b.json.out``).
    input_names: list[str] = field(default_factory=list)
    input_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.job_name is not None:
            data["jobName"] = self.job_name
        if self.channel is not None:
            data["channel"] = self.channel
        if self.input_names:
            data["inputNames"] = list(self.input_names)
        if self.input_bytes:
            data["inputBytes"] = self.input_bytes
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchJobState:
        return cls(
            job_name=data.get("jobName"),
            channel=data.get("channel"),
            input_names=list(data.get("inputNames") or []),
            input_bytes=int(data.get("inputBytes", 0)),
        )


ResourceState = (
    NoState | DatasetState | SolutionVersionState | CampaignState | BatchJobState | RecommenderState
)
STATE_TYPES: dict[str, type[ResourceState]] = {
    DATASET_KIND: DatasetState,
    SOLUTION_VERSION_KIND: SolutionVersionState,
    CAMPAIGN_KIND: CampaignState,
    BATCH_INFERENCE_JOB_KIND: BatchJobState,
    BATCH_SEGMENT_JOB_KIND: BatchJobState,
    RECOMMENDER_KIND: RecommenderState,
}
_State = TypeVar("_State", DatasetState, SolutionVersionState, CampaignState, BatchJobState, RecommenderState)


def new_state(kind: str) -> ResourceState:
    return STATE_TYPES.get(kind, NoState)()


def state_from_json(kind: str, data: dict[str, Any]) -> ResourceState:
    return STATE_TYPES.get(kind, NoState).from_json(data)


@dataclass
class Resource:
    """One control-plane resource: ``doc`` is its Describe document, ``state`` what picks keeps private."""

    arn: str
    kind: str
    doc: dict[str, Any]
    parent: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    rev: int = 0
    created: float = 0.0
    state: ResourceState = field(default_factory=NoState)

    def __post_init__(self) -> None:
        if isinstance(self.state, NoState):
            self.state = new_state(self.kind)

    def to_wire(self) -> dict[str, Any]:
        """The resource as Describe returns it (the output shape's member, before serialization)."""
        return self.doc

    @property
    def dataset_state(self) -> DatasetState:
        return self._state(DatasetState)

    @property
    def version_state(self) -> SolutionVersionState:
        return self._state(SolutionVersionState)

    @property
    def campaign_state(self) -> CampaignState:
        return self._state(CampaignState)

    @property
    def batch_state(self) -> BatchJobState:
        return self._state(BatchJobState)

    @property
    def recommender_state(self) -> RecommenderState:
        return self._state(RecommenderState)

    def _state(self, expected: type[_State]) -> _State:
        if not isinstance(self.state, expected):
            raise TypeError(f"{self.arn} is a {self.kind}; it has no {expected.__name__}")
        return self.state


def split_legacy_state(doc: dict[str, Any]) -> dict[str, Any]:
    """Remove from ``doc`` the private keys a record written before ``Resource.state`` kept in it
    (``_model``, ``_data``, ``_servingVersionArn``, ...) and return them as state JSON.

    The state JSON names are the legacy keys without their underscore, so each moves as it is; a
    campaign's pending update kept its own ``_servingVersionArn``.
    """
    state = {key[1:]: doc.pop(key) for key in [key for key in doc if key.startswith("_")]}
    update = doc.get(CAMPAIGN_UPDATE)
    if isinstance(update, dict) and "_servingVersionArn" in update:
        state["updateServingVersionArn"] = update.pop("_servingVersionArn")
    return state


def from_storage(kind: str, doc: dict[str, Any], stored_state: dict[str, Any] | None) -> ResourceState:
    """The typed state of a stored record; moves any legacy private keys out of ``doc`` (in place)."""
    legacy = split_legacy_state(doc)
    return state_from_json(kind, {**legacy, **(stored_state or {})})
