"""Model-driven fuzzing of the three Personalize APIs over HTTP.

Requests are drawn by hypothesis from botocore's own input shapes: each member is left out, valid, or
broken (lengths and values past ``min``/``max``, strings off their ``pattern`` or ``enum``, wrong JSON
types, required members missing, members the model does not have), and a share of bodies are not the
modelled JSON at all (random bytes, non-objects, the malformed bodies of the wire tests). Members often
name resources that ``seed`` created (a trained campaign, an event tracker, ...) so requests get past
"not found" into the handlers' work; no solution is seeded, so no fuzz request starts a training job
(an import job naming a seeded dataset and a random S3 location fails at once).

Each answer is judged as an SDK would see it: no 5xx, a 200 body botocore parses, and every error parsed
by botocore's own parser into an error code that the service's model declares (so ``client.exceptions``
has it). Used by ``tests/e2e/test_fuzz.py`` (a quick profile in ``make test``) and ``bench/fuzz_bench.py``
(``make fuzz``: 10,000+ requests, figures in docs/benchmarks.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.parsers import create_parser
from hypothesis import strategies as st
from picks.wire.service_model import SERVICES
from picks.wire.service_model import service_model as model
from picks.wire.validation import _translate_java_pattern, compiled_pattern

from tests.signed import Answer, control_plane, rest
from tests.unit.test_wire_patterns import EXAMPLES as PATTERN_EXAMPLES

if TYPE_CHECKING:
    from botocore.model import OperationModel, Shape

MAX_DEPTH = 8
Known = Mapping[str, Sequence[Any]]
NO_KNOWN: Known = {}
# Values of existing resources by member name (``seed`` fills it): requests that name them reach past the
# "not found" checks into the handlers' real work (a trained campaign's ranking, an event tracker's store).
KNOWN: dict[str, list[Any]] = {}
# Bodies no parser should turn into a 500 (the wire tests' list, plus a few more).
MALFORMED_BODIES = (
    b"",
    b"{",
    b"[]",
    b"null",
    b"0",
    b'"x"',
    b"{}" * 3,
    b'{"a": 1,}',
    b"\x00\xff",
    b"[" * 5000,
    b'{"x": ' + b"9" * 5000 + b"}",
    '{"name": "x"}'.encode("utf-16"),
    b'{"name": "\\ud800"}',
    b'{"a": NaN}',
)


def operations() -> list[tuple[str, str]]:
    """Every operation of the three APIs (the control plane's 7x, runtime's and events' REST paths)."""
    return [(service, name) for service in SERVICES for name in model(service).operation_names]


@cache
def modelled_errors(service: str) -> frozenset[str]:
    return frozenset(shape.name for shape in model(service).error_shapes)


@cache
def declared_errors(service: str, operation: str) -> frozenset[str]:
    return frozenset(shape.name for shape in model(service).operation_model(operation).error_shapes)


@dataclass(frozen=True)
class FuzzRequest:
    service: str
    operation: str
    body: bytes
    kind: str  # "model": drawn from the input shape; "raw": not the modelled JSON

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        return f"FuzzRequest({self.service} {self.operation} {self.kind} body={self.body[:600]!r})"


# --- values ---------------------------------------------------------------------------------------------

_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_ANY_JSON = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _length_ok(shape: Shape):
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max")
    return lambda value: low <= len(value) and (high is None or len(value) <= high)


@cache
def _pattern_text(pattern: str) -> st.SearchStrategy[str]:
    """Strings the pattern accepts: hypothesis' from_regex where Python's re can read the Java translation,
    else the hand-picked examples plus text that happens to match (\\p{..} classes)."""
    compiled = compiled_pattern(pattern)
    translated = _translate_java_pattern(pattern)
    try:
        re.compile(translated)
    except re.error:  # \p{..}: Python's re (which from_regex uses) has no Unicode property classes
        accepted = PATTERN_EXAMPLES.get(pattern, ([], []))[0]
        matching = st.text(max_size=20).filter(lambda text: compiled.fullmatch(text) is not None)
        return st.sampled_from(accepted) | matching if accepted else matching
    return st.from_regex(translated, fullmatch=True).filter(lambda text: compiled.fullmatch(text) is not None)


def _valid_string(shape: Shape) -> st.SearchStrategy[str]:
    meta = shape.metadata
    if shape.enum:
        return st.sampled_from(list(shape.enum))
    if "pattern" in meta:
        return _pattern_text(meta["pattern"]).filter(_length_ok(shape))
    high = meta.get("max", 40)
    return st.text(min_size=meta.get("min", 0), max_size=max(meta.get("min", 0), min(high, 40)))


def valid(shape: Shape, depth: int = 0, known: Known = NO_KNOWN) -> st.SearchStrategy[Any]:
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        return structure(shape, depth, with_broken=False, known=known)
    if kind == "string":
        return _valid_string(shape)
    if kind in ("integer", "long"):
        return st.integers(int(meta.get("min", -(2**31))), int(meta.get("max", 2**31 - 1)))
    if kind in ("float", "double"):
        return st.floats(
            min_value=meta.get("min"), max_value=meta.get("max"), allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.integers(0, 4_102_444_800) | st.floats(0, 4.1e9)
    low = int(meta.get("min", 0))
    high = max(low, min(int(meta.get("max", 4)), 4))
    if depth >= MAX_DEPTH:
        return st.just([] if kind == "list" else {})
    if kind == "list":
        return st.lists(valid(shape.member, depth + 1, known), min_size=low, max_size=high)
    if kind == "map":
        return st.dictionaries(
            valid(shape.key, depth + 1, known),
            valid(shape.value, depth + 1, known),
            min_size=low,
            max_size=high,
        )
    return _ANY_JSON


def broken_text(shape: Shape) -> st.SearchStrategy[str]:
    """Strings that break a string shape's length, pattern or enum (JSON object keys must stay strings)."""
    meta = shape.metadata
    high, low = meta.get("max"), meta.get("min", 0)
    options = [st.text(st.characters(codec="utf-8"), max_size=30)]
    if high is not None:
        options.append(st.integers(high + 1, high + 64).map(lambda n: "a" * n))
        options.append(st.just("x" * 100_000))
    if low:
        options.append(st.just(""))
    if "pattern" in meta:
        options.append(st.sampled_from(PATTERN_EXAMPLES.get(meta["pattern"], ([], ["\t"]))[1] or ["\t"]))
    return st.one_of(options)


def broken(shape: Shape, depth: int = 0, known: Known = NO_KNOWN) -> st.SearchStrategy[Any]:
    """Values that break the member's constraints (or its JSON type)."""
    kind, meta = shape.type_name, shape.metadata
    options: list[st.SearchStrategy[Any]] = [_ANY_JSON]
    if kind == "string":
        options.append(broken_text(shape))
    elif kind in ("integer", "long", "float", "double"):
        for bound, step in (("min", -1), ("max", 1)):
            if bound in meta:
                options.append(st.just(meta[bound] + step))
        options.append(st.sampled_from([10**20, -(10**20), 2**63, 0.5, -1, "12", 1e308]))
    elif kind == "list" and depth < MAX_DEPTH:
        high = meta.get("max")
        if high is not None:
            options.append(valid(shape.member, depth + 1, known).map(lambda item: [item] * (high + 1)))
        options.append(st.lists(broken(shape.member, depth + 1, known), min_size=1, max_size=3))
    elif kind == "map" and depth < MAX_DEPTH:
        high = meta.get("max")
        if high is not None:
            too_many = valid(shape.value, depth + 1, known).map(
                lambda value: {f"k{i}": value for i in range(high + 1)}
            )
            options.append(too_many)
        options.append(
            st.dictionaries(
                broken_text(shape.key), valid(shape.value, depth + 1, known), min_size=1, max_size=2
            )
        )
        options.append(
            st.dictionaries(
                valid(shape.key, depth + 1, known),
                broken(shape.value, depth + 1, known),
                min_size=1,
                max_size=2,
            )
        )
    elif kind == "structure" and depth < MAX_DEPTH:
        options.append(structure(shape, depth, with_broken=True, known=known))
    return st.one_of(options)


def structure(
    shape: Shape, depth: int, with_broken: bool, known: Known = NO_KNOWN
) -> st.SearchStrategy[dict[str, Any]]:
    """A structure whose members are each left out, valid, one of the ``known`` values of that member name
    (resources that exist), or (``with_broken``) broken; plus members the model does not have."""
    required = set(shape.required_members)
    members = list(shape.members.items())

    @st.composite
    def build(draw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, member in members:
            # Clean structures keep every required member and mostly name existing resources, so they get
            # past validation into the handlers; broken ones add a broken (or missing required) member here
            # and there, so one bad member is judged with otherwise good company.
            choices = ["valid"] if name in required else ["omit", "omit", "valid"]
            if known.get(name):
                choices += ["known"] * 3
            if with_broken:
                choices += ["broken", "omit"] if name in required else ["broken"]
            choice = draw(st.sampled_from(choices))
            if choice == "known":
                out[name] = draw(st.sampled_from(known[name]))
            elif choice == "valid":
                out[name] = draw(valid(member, depth + 1, known))
            elif choice == "broken":
                out[name] = draw(broken(member, depth + 1, known))
        if with_broken and draw(st.integers(0, 5)) == 0:
            out.update(draw(st.dictionaries(st.text(min_size=1, max_size=12), _ANY_JSON, max_size=2)))
        return out

    return build()


# --- resources to aim at ---------------------------------------------------------------------------------

RECIPE = "arn:aws:personalize:::recipe/"


def seed(url: str) -> dict[str, list[Any]]:
    """Create what fuzzed requests may name, and fill ``KNOWN``: imported demo data, an event tracker, two
    filters, a trained User-Personalization campaign and a Personalized-Ranking one (a few seconds).

    Solutions are left out on purpose: a valid CreateSolutionVersion naming one would start a training job.
    """
    import boto3
    from botocore.config import Config

    from demo.load import load_demo
    from demo.synthetic import generate
    from tests.e2e.test_train_and_serve import deploy, train

    data = generate(n_users=120, n_items=60, n_interactions=3000, seed=7)
    loaded = load_demo(url, data=data, quiet=True)
    personalize = boto3.client(
        "personalize",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
    group = loaded["datasetGroupArn"]
    tracker = personalize.create_event_tracker(name="fuzz", datasetGroupArn=group)
    filters = [
        personalize.create_filter(name=name, datasetGroupArn=group, filterExpression=expression)["filterArn"]
        for name, expression in (
            ("fuzz-bought", 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'),
            ("fuzz-category", "INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)"),
        )
    ]
    up_version, _ = train(personalize, group, "fuzz-up", "aws-user-personalization")
    ranking_version, _ = train(personalize, group, "fuzz-ranking", "aws-personalized-ranking")
    campaigns = [
        deploy(personalize, "fuzz-up", up_version),
        deploy(personalize, "fuzz-ranking", ranking_version),
    ]
    users = [row[0] for row in data.users[:5]]
    items = [row[0] for row in data.items[:10]]
    KNOWN.clear()
    KNOWN.update(
        {
            "datasetGroupArn": [group],
            "datasetArn": list(loaded["datasetArns"].values()),
            "schemaArn": list(loaded["schemaArns"].values()),
            "datasetImportJobArn": list(loaded["datasetImportJobArns"].values()),
            "trackingId": [tracker["trackingId"]],
            "eventTrackerArn": [tracker["eventTrackerArn"]],
            "filterArn": filters,
            "filterValues": [{"CATEGORY": '"books"'}, {"CATEGORY": '"books", "toys"'}],
            "campaignArn": campaigns,
            "solutionVersionArn": [up_version, ranking_version],
            "resourceArn": [group, *campaigns],
            "recipeArn": [
                RECIPE + name for name in ("aws-user-personalization", "aws-sims", "aws-popularity-count")
            ],
            "userId": users,
            "itemId": items,
            "inputList": [items, items[:3]],
        }
    )
    return KNOWN


# --- requests -------------------------------------------------------------------------------------------


def requests(service: str, operation: str) -> st.SearchStrategy[FuzzRequest]:
    input_shape = model(service).operation_model(operation).input_shape
    # Delete* with real ARNs would remove the seeded resources the other operations are fuzzed against.
    known = NO_KNOWN if operation.startswith("Delete") else KNOWN

    def encode(params: Any) -> bytes:
        return json.dumps(params).encode()

    if input_shape is None:
        modelled = st.just(b"{}")
    else:
        drawn = structure(input_shape, 0, with_broken=True, known=known) | structure(
            input_shape, 0, with_broken=False, known=known
        )
        modelled = drawn.map(encode)
    raw = st.sampled_from(MALFORMED_BODIES) | st.binary(max_size=40) | _ANY_JSON.map(encode)
    return st.one_of(
        modelled.map(lambda body: FuzzRequest(service, operation, body, "model")),
        modelled.map(lambda body: FuzzRequest(service, operation, body, "model")),
        modelled.map(lambda body: FuzzRequest(service, operation, body, "model")),
        raw.map(lambda body: FuzzRequest(service, operation, body, "raw")),
    )


def send(url: str, request: FuzzRequest) -> Answer:
    if request.service == "personalize":
        return control_plane(url, request.operation, request.body)
    return rest(url, request.operation, request.body)


def problems(request: FuzzRequest, answer: Answer) -> list[str]:
    """What an SDK would trip over in ``answer``: a 5xx, an unparseable body, an unmodelled error code."""
    found: list[str] = []
    if answer.status >= 500:
        found.append(f"HTTP {answer.status}: {answer.body[:300]!r}")
    operation: OperationModel = model(request.service).operation_model(request.operation)
    parser = create_parser(model(request.service).metadata["protocol"])
    response = {"status_code": answer.status, "headers": answer.headers, "body": answer.body}
    try:
        parsed = parser.parse(response, operation.output_shape)
    except Exception as error:  # noqa: BLE001 - any parser failure is what we are looking for
        return [*found, f"unparseable (HTTP {answer.status}): {type(error).__name__}: {error}"]
    if answer.status >= 300:
        code = parsed.get("Error", {}).get("Code")
        if not code or code not in modelled_errors(request.service):
            found.append(f"unmodelled error code {code!r} (HTTP {answer.status}): {answer.body[:300]!r}")
    elif not isinstance(_json_or_none(answer.body), dict):
        found.append(f"HTTP {answer.status} with a body that is not a JSON object: {answer.body[:300]!r}")
    return found


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def server_answers(url: str) -> bool:
    """A plain ListDatasetGroups still succeeds."""
    return control_plane(url, "ListDatasetGroups", b"{}").status == 200
