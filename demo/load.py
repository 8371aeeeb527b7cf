"""Load the synthetic demo into a running picks server with nothing but stock boto3.

This doubles as a worked example of the client side: the same calls work against
Amazon Personalize itself (given a real bucket and role), which is the point of
the project.  ``load_demo`` is safe to re-run: resources that already exist are
looked up by name and reused.  With ``reuse=True`` (what ``make demo`` does on a server that kept
its state) data that is already imported is not imported again, and a solution with an ACTIVE
version is not trained again, so a restart is quick.

With ``train=True`` (what ``make demo`` does) it goes on like the getting-started guide:
one solution each for aws-user-personalization, aws-sims and aws-popularity-count,
a solution version and a campaign for each, then it prints the versions' offline
metrics side by side (and how far personalization beats popularity) and a few sample
recommendations ("Recommended for you" through a filter that leaves out what the user already
viewed or bought).  With ``ecommerce=True`` (``make demo`` again) it also loads the same data into
an ECOMMERCE domain dataset group and serves two use cases from it (``demo.ecommerce``).

    python -m demo.load --endpoint-url http://127.0.0.1:4566 [--no-train]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from demo.synthetic import DemoData, generate
from demo.waiting import wait_active

if TYPE_CHECKING:
    from collections.abc import Iterator

BUCKET = "picks-demo-input"
DATASET_GROUP = "picks-demo"
ROLE_ARN = "arn:aws:iam::000000000000:role/PicksDemo"
DUMMY_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
# Dataset type -> CSV stem written by DemoData.csv_texts().
DATASET_FILES = {"INTERACTIONS": "interactions", "ITEMS": "items", "USERS": "users"}

# (short name, recipe): one solution, solution version and campaign each when training.
DEMO_SOLUTIONS = (
    ("user-personalization", "aws-user-personalization"),
    ("sims", "aws-sims"),
    ("popularity", "aws-popularity-count"),
)
RECIPE_ARN = "arn:aws:personalize:::recipe/"
# GetSolutionMetrics keys shown in the demo's table, with their column titles.
METRIC_COLUMNS = (
    ("precision_at_10", "precision@10"),
    ("normalized_discounted_cumulative_gain_at_10", "NDCG@10"),
    ("mean_reciprocal_rank_at_25", "MRR@25"),
    ("coverage", "coverage"),
)
SAMPLE_RESULTS = 5
# "Recommended for you" in the report: nothing the user already viewed or bought.
UNSEEN_EXPRESSION = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("View", "Purchase")'

__all__ = [
    "BUCKET",
    "DATASET_GROUP",
    "DEMO_SOLUTIONS",
    "DemoLoadError",
    "GroupData",
    "load_demo",
    "main",
    "train_demo",
]

Say = Callable[[str], None]


def _sayer(quiet: bool, out: TextIO | None) -> Say:
    """Print a line of the report to ``out`` (stdout when None), or nothing when ``quiet``."""

    def say(message: str) -> None:
        if not quiet:
            print(message, file=out if out is not None else sys.stdout, flush=True)

    return say


class DemoLoadError(RuntimeError):
    """A resource ended in a failed state or did not become ACTIVE in time."""


# The emulator usually finishes small jobs in well under a second: start fast, then back off so a
# slow import is not hammered.
_wait_active = functools.partial(wait_active, poll=0.2, max_poll=5.0, error=DemoLoadError)


def _client(service: str, endpoint_url: str, region: str) -> Any:
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        # Path-style, because virtual-hosted buckets would need DNS for <bucket>.127.0.0.1.
        s3={"addressing_style": "path"},
    )
    return boto3.client(
        service, endpoint_url=endpoint_url, region_name=region, config=config, **DUMMY_CREDENTIALS
    )


def _clients(endpoint_url: str, region: str) -> tuple[Any, Any]:
    return _client("s3", endpoint_url, region), _client("personalize", endpoint_url, region)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(result_key, [])


def _find(items: Iterator[dict[str, Any]], **match: str) -> dict[str, Any]:
    for item in items:
        if all(item.get(key) == value for key, value in match.items()):
            return item
    raise DemoLoadError(f"resource reported as existing but not listed: {match}")


def _ensure_bucket(s3: Any, region: str) -> None:
    kwargs: dict[str, Any] = {"Bucket": BUCKET}
    if region != "us-east-1":  # S3 rejects an explicit us-east-1 LocationConstraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except ClientError as error:
        if _error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _domain(domain: str | None) -> dict[str, str]:
    """CreateDatasetGroup's / CreateSchema's ``domain`` argument, only when there is one."""
    return {"domain": domain} if domain is not None else {}


def _ensure_dataset_group(
    personalize: Any, timeout: float, group: str = DATASET_GROUP, domain: str | None = None
) -> str:
    try:
        arn = personalize.create_dataset_group(name=group, **_domain(domain))["datasetGroupArn"]
    except personalize.exceptions.ResourceAlreadyExistsException:
        arn = _find(_paginate(personalize, "list_dataset_groups", "datasetGroups"), name=group)[
            "datasetGroupArn"
        ]
    _wait_active(
        lambda: personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"],
        f"dataset group {group}",
        timeout,
    )
    return str(arn)


def _ensure_schema(personalize: Any, name: str, schema: str, domain: str | None = None) -> str:
    try:
        return str(personalize.create_schema(name=name, schema=schema, **_domain(domain))["schemaArn"])
    except personalize.exceptions.ResourceAlreadyExistsException:
        return str(_find(_paginate(personalize, "list_schemas", "schemas"), name=name)["schemaArn"])


def _ensure_dataset(
    personalize: Any,
    group_arn: str,
    dataset_type: str,
    schema_arn: str,
    timeout: float,
    group: str = DATASET_GROUP,
) -> str:
    name = f"{group}-{dataset_type.lower()}"
    try:
        arn = personalize.create_dataset(
            name=name, schemaArn=schema_arn, datasetGroupArn=group_arn, datasetType=dataset_type
        )["datasetArn"]
    except personalize.exceptions.ResourceAlreadyExistsException:
        # A group holds one dataset per type, so the type (not the name) identifies it.
        listed = _paginate(personalize, "list_datasets", "datasets", datasetGroupArn=group_arn)
        arn = _find(listed, datasetType=dataset_type)["datasetArn"]
    _wait_active(lambda: personalize.describe_dataset(datasetArn=arn)["dataset"], f"dataset {name}", timeout)
    return str(arn)


def _start_import(
    personalize: Any, dataset_arn: str, dataset_type: str, group: str = DATASET_GROUP, prefix: str = ""
) -> str:
    """Start a FULL import of the just-uploaded CSV.

    On a re-run the earlier job's name is taken, so the new job gets a timestamp suffix: a
    FULL import replaces the dataset, which keeps a re-run with other data (``--seed``) honest.
    A job still running is reused instead, since a dataset takes one import at a time.
    """
    base = f"{group}-{dataset_type.lower()}-import"
    name = base
    for job in _paginate(
        personalize, "list_dataset_import_jobs", "datasetImportJobs", datasetArn=dataset_arn
    ):
        status = job.get("status", "")
        if status in ("CREATE PENDING", "CREATE IN_PROGRESS"):
            return str(job["datasetImportJobArn"])
        if job.get("jobName") == base:
            name = f"{base}-{time.strftime('%Y%m%d%H%M%S')}"
    return str(
        personalize.create_dataset_import_job(
            jobName=name,
            datasetArn=dataset_arn,
            dataSource={"dataLocation": f"s3://{BUCKET}/{prefix}{DATASET_FILES[dataset_type]}.csv"},
            roleArn=ROLE_ARN,
            importMode="FULL",
        )["datasetImportJobArn"]
    )


def _newest_active(
    personalize: Any, operation: str, result_key: str, arn_key: str, **filters: Any
) -> str | None:
    """The ARN (``arn_key``) of the newest ACTIVE resource that ``operation`` lists, if any."""
    active = [
        found
        for found in _paginate(personalize, operation, result_key, **filters)
        if found.get("status") == "ACTIVE"
    ]
    if not active:
        return None
    return str(max(active, key=lambda found: found.get("creationDateTime", 0))[arn_key])


def _active_import(personalize: Any, dataset_arn: str) -> str | None:
    """The dataset's newest ACTIVE import job, if any."""
    return _newest_active(
        personalize,
        "list_dataset_import_jobs",
        "datasetImportJobs",
        "datasetImportJobArn",
        datasetArn=dataset_arn,
    )


def _upload(s3: Any, region: str, texts: dict[str, str], prefix: str = "") -> None:
    """Each CSV text (file stem -> text) at ``s3://BUCKET/<prefix><stem>.csv``."""
    _ensure_bucket(s3, region)
    for stem, text in texts.items():
        s3.put_object(
            Bucket=BUCKET, Key=f"{prefix}{stem}.csv", Body=text.encode("utf-8"), ContentType="text/csv"
        )


@dataclass(frozen=True)
class GroupData:
    """What one dataset group imports: its name, domain, and per dataset type the schema and CSV."""

    group: str
    schemas: dict[str, str]  # dataset type -> Avro schema text
    texts: dict[str, str]  # CSV stem (DATASET_FILES' values) -> CSV text
    domain: str | None = None
    prefix: str = ""  # S3 key prefix of the CSVs

    def summary(self) -> str:
        rows = {stem: max(0, text.count("\n") - 1) for stem, text in self.texts.items()}
        return ", ".join(f"{count} {stem}" for stem, count in rows.items())


def _import_group(
    s3: Any, personalize: Any, region: str, spec: GroupData, *, timeout: float, reuse: bool, say: Say
) -> dict[str, Any]:
    """The dataset group, its schemas and datasets, and ACTIVE imports of ``spec``'s CSVs (with
    ``reuse``, kept when every dataset already has one); return their ARNs as ``load_demo`` does."""
    group_arn = _ensure_dataset_group(personalize, timeout, spec.group, spec.domain)
    say(f"dataset group {group_arn}")
    schema_arns: dict[str, str] = {}
    dataset_arns: dict[str, str] = {}
    for dataset_type, schema in spec.schemas.items():
        schema_arns[dataset_type] = _ensure_schema(
            personalize, f"{spec.group}-{dataset_type.lower()}", schema, spec.domain
        )
        dataset_arns[dataset_type] = _ensure_dataset(
            personalize, group_arn, dataset_type, schema_arns[dataset_type], timeout, spec.group
        )
    imported = {t: _active_import(personalize, arn) for t, arn in dataset_arns.items()} if reuse else {}
    if reuse and all(imported.values()):
        say(
            f"{spec.group}: data already imported (kept from the last run); "
            "delete the state to load it afresh"
        )
        job_arns = {t: str(arn) for t, arn in imported.items()}
    else:
        _upload(s3, region, spec.texts, spec.prefix)
        say(f"uploaded {spec.summary()} to s3://{BUCKET}/{spec.prefix}")
        # Start all imports before waiting on any, so the server can run them side by side.
        job_arns = {
            t: _start_import(personalize, arn, t, spec.group, spec.prefix) for t, arn in dataset_arns.items()
        }
    for dataset_type, job_arn in job_arns.items():
        started = time.monotonic()

        def describe_job(job_arn: str = job_arn) -> dict[str, Any]:
            job: dict[str, Any] = personalize.describe_dataset_import_job(datasetImportJobArn=job_arn)
            return job["datasetImportJob"]

        _wait_active(describe_job, f"{dataset_type} import job {job_arn}", timeout)
        say(f"{dataset_type.lower()} import ACTIVE (waited {time.monotonic() - started:.1f}s)")
    return {
        "datasetGroupArn": group_arn,
        "schemaArns": schema_arns,
        "datasetArns": dataset_arns,
        "datasetImportJobArns": job_arns,
    }


def how_to(endpoint_url: str, region: str, group_arn: str) -> str:
    return f"""\
The demo is loaded. Point any AWS client at picks:

  export AWS_ENDPOINT_URL={endpoint_url}
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION={region}

  aws personalize list-dataset-groups --endpoint-url {endpoint_url}

  python - <<'EOF'
  import boto3
  personalize = boto3.client("personalize", endpoint_url="{endpoint_url}", region_name="{region}",
                             aws_access_key_id="test", aws_secret_access_key="test")
  print(personalize.describe_dataset_group(datasetGroupArn="{group_arn}")["datasetGroup"]["status"])
  EOF
"""


def load_demo(
    endpoint_url: str,
    *,
    region: str = "us-east-1",
    data: DemoData | None = None,
    wait_timeout: float = 300,
    quiet: bool = False,
    train: bool = False,
    reuse: bool = False,
    ecommerce: bool = False,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Upload the demo CSVs and import them; return the ARNs of everything involved.

    With ``ecommerce`` it also loads the ECOMMERCE domain dataset group and its recommenders
    (``demo.ecommerce``; the result's ``ecommerce``).  ``out``: where the report goes (stdout).

    With ``reuse`` the datasets that already have an ACTIVE import keep it (nothing is uploaded or
    imported when all do) and solutions with an ACTIVE version keep it (see ``train_demo``).

    With ``train`` it then trains and deploys the demo solutions (``train_demo``) and the result
    also holds their solution, version and campaign ARNs, offline metrics and sample
    recommendations.  ``wait_timeout`` bounds the wait for each resource to become ACTIVE.
    Raises ``DemoLoadError`` (with the server's failureReason) if an import or training fails.
    """
    data = data if data is not None else generate()
    s3, personalize = _clients(endpoint_url, region)
    say = _sayer(quiet, out)
    spec = GroupData(DATASET_GROUP, data.schemas, data.csv_texts())
    loaded: dict[str, Any] = {
        "bucket": BUCKET,
        **_import_group(s3, personalize, region, spec, timeout=wait_timeout, reuse=reuse, say=say),
    }
    group_arn = loaded["datasetGroupArn"]
    say(how_to(endpoint_url, region, group_arn))
    if train:
        loaded.update(
            train_demo(
                endpoint_url,
                group_arn,
                data,
                region=region,
                wait_timeout=wait_timeout,
                quiet=quiet,
                reuse=reuse,
                out=out,
            )
        )
    if ecommerce:
        from demo.ecommerce import ecommerce_demo  # noqa: PLC0415 - it imports this module

        loaded["ecommerce"] = ecommerce_demo(
            endpoint_url, data, region=region, wait_timeout=wait_timeout, reuse=reuse, say=say
        )
    return loaded


# --- training and serving ------------------------------------------------------------------------


def _ensure_solution(personalize: Any, group_arn: str, name: str, recipe: str) -> str:
    try:
        return str(
            personalize.create_solution(
                name=name,
                datasetGroupArn=group_arn,
                recipeArn=RECIPE_ARN + recipe,
                performAutoTraining=False,
            )["solutionArn"]
        )
    except personalize.exceptions.ResourceAlreadyExistsException:
        listed = _paginate(personalize, "list_solutions", "solutions", datasetGroupArn=group_arn)
        return str(_find(listed, name=name)["solutionArn"])


def _active_version(personalize: Any, solution_arn: str) -> str | None:
    """The solution's newest ACTIVE version, if any."""
    return _newest_active(
        personalize,
        "list_solution_versions",
        "solutionVersions",
        "solutionVersionArn",
        solutionArn=solution_arn,
    )


def _start_training(personalize: Any, solution_arn: str, reuse: bool = False) -> str:
    """A new FULL solution version; on a re-run while one still trains, that one; with ``reuse``,
    the newest ACTIVE version if there is one."""
    if reuse:
        active = _active_version(personalize, solution_arn)
        if active is not None:
            return active
    try:
        return str(personalize.create_solution_version(solutionArn=solution_arn)["solutionVersionArn"])
    except personalize.exceptions.ResourceInUseException:
        for version in _paginate(
            personalize, "list_solution_versions", "solutionVersions", solutionArn=solution_arn
        ):
            if version.get("status") in ("CREATE PENDING", "CREATE IN_PROGRESS"):
                return str(version["solutionVersionArn"])
        raise


def _ensure_campaign(personalize: Any, name: str, version_arn: str, timeout: float) -> str:
    """A campaign serving ``version_arn``: created, or (on a re-run) updated to it."""

    def describe() -> dict[str, Any]:
        return personalize.describe_campaign(campaignArn=arn)["campaign"]

    try:
        arn = str(
            personalize.create_campaign(name=name, solutionVersionArn=version_arn, minProvisionedTPS=1)[
                "campaignArn"
            ]
        )
    except personalize.exceptions.ResourceAlreadyExistsException:
        arn = str(_find(_paginate(personalize, "list_campaigns", "campaigns"), name=name)["campaignArn"])
        if describe()["status"] == "CREATE FAILED":
            # e.g. its deployment was interrupted by a server restart: a failed campaign can only be replaced.
            personalize.delete_campaign(campaignArn=arn)
            return _ensure_campaign(personalize, name, version_arn, timeout)
        _wait_active(describe, f"campaign {name}", timeout)
        if describe()["solutionVersionArn"] != version_arn:
            personalize.update_campaign(campaignArn=arn, solutionVersionArn=version_arn)
            _wait_active(lambda: describe()["latestCampaignUpdate"], f"update of campaign {name}", timeout)
    _wait_active(describe, f"campaign {name}", timeout)
    return arn


def metrics_table(metrics: dict[str, dict[str, float]]) -> str:
    """Recipes as rows, the METRIC_COLUMNS as columns (GetSolutionMetrics values)."""
    width = max([len("recipe")] + [len(recipe) for recipe in metrics])
    lines = ["  " + "recipe".ljust(width) + "".join(f"{title:>14}" for _, title in METRIC_COLUMNS)]
    for recipe, values in metrics.items():
        cells = "".join(
            f"{values[key]:>14.4f}" if key in values else f"{'-':>14}" for key, _ in METRIC_COLUMNS
        )
        lines.append("  " + recipe.ljust(width) + cells)
    return "\n".join(lines)


def versus_popularity(metrics: dict[str, dict[str, float]], key: str = "precision_at_10") -> str:
    """One line: how many times popularity's ``key`` personalization reaches (the baseline
    Personalize recommends comparing with)."""
    personal = metrics.get("aws-user-personalization", {}).get(key)
    popular = metrics.get("aws-popularity-count", {}).get(key)
    title = dict(METRIC_COLUMNS).get(key, key)
    if personal is None or popular is None:
        return ""
    if popular <= 0:
        return f"  aws-user-personalization {title} {personal:.4f}; aws-popularity-count scores no hits"
    return (
        f"  aws-user-personalization's {title} is {personal / popular:.1f}x aws-popularity-count's "
        f"({personal:.4f} vs {popular:.4f})"
    )


def _ensure_filter(
    personalize: Any, group_arn: str, timeout: float, name: str = f"{DATASET_GROUP}-unseen"
) -> str:
    """The demo's filter that keeps out what the user already viewed or bought: "Recommended for
    you" shows new items (the model itself may recommend an item again, as a viewer comes back to
    buy it)."""
    try:
        arn = str(
            personalize.create_filter(
                name=name, datasetGroupArn=group_arn, filterExpression=UNSEEN_EXPRESSION
            )["filterArn"]
        )
    except personalize.exceptions.ResourceAlreadyExistsException:
        listed = _paginate(personalize, "list_filters", "Filters", datasetGroupArn=group_arn)
        arn = str(_find(listed, name=name)["filterArn"])
    _wait_active(lambda: personalize.describe_filter(filterArn=arn)["filter"], f"filter {name}", timeout)
    return arn


def _sample_user(data: DemoData) -> str:
    """The demo user with the most interactions (ties: the first), so explanations have material."""
    counts = Counter(row[0] for row in data.interactions)
    return max((row[0] for row in data.users if row[0] in counts), key=counts.__getitem__)


def _samples(runtime: Any, campaigns: dict[str, str], data: DemoData, unseen: str) -> dict[str, Any]:
    category = {row[0]: row[1] for row in data.items}
    user = _sample_user(data)
    history = sorted((row for row in data.interactions if row[0] == user), key=lambda row: row[2])
    recommended = runtime.get_recommendations(
        campaignArn=campaigns["aws-user-personalization"],
        userId=user,
        numResults=SAMPLE_RESULTS,
        context={"PICKS_EXPLAIN": "true"},
        filterArn=unseen,
    )["itemList"]
    item = history[-1][1]
    related = runtime.get_recommendations(
        campaignArn=campaigns["aws-sims"], itemId=item, numResults=SAMPLE_RESULTS
    )["itemList"]
    popular = runtime.get_recommendations(
        campaignArn=campaigns["aws-popularity-count"], userId=user, numResults=SAMPLE_RESULTS
    )["itemList"]

    def described(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**entry, "category": category.get(entry["itemId"], "?")} for entry in items]

    return {
        "userId": user,
        "userHistory": [
            {"itemId": row[1], "category": category.get(row[1], "?"), "eventType": row[3]}
            for row in history[-SAMPLE_RESULTS:]
        ],
        "userRecommendations": described(recommended),
        "itemId": item,
        "itemCategory": category.get(item, "?"),
        "relatedItems": described(related),
        "popularItems": described(popular),
    }


def _samples_text(samples: dict[str, Any]) -> str:
    def line(entry: dict[str, Any], scored: bool = True) -> str:
        # User-Personalization's scores share 1 over the whole catalog, the filtered-out items' too:
        # small ones need their exponent, and one below the answer's 8 decimals is left out.
        score = f"  score {entry['score']:.3g}" if scored and entry.get("score") else ""
        return f"    {entry['itemId']}  {entry['category']:<12}{score}"

    lines = [
        f"Sample recommendations (GetRecommendations, {SAMPLE_RESULTS} each):",
        "",
        f"  user {samples['userId']} lately: "
        + ", ".join(f"{h['itemId']} ({h['category']}, {h['eventType']})" for h in samples["userHistory"]),
        "  Recommended for you (aws-user-personalization, filtered to items the user has not viewed or "
        "bought), with PICKS_EXPLAIN reasons:",
    ]
    for entry in samples["userRecommendations"]:
        lines.append(line(entry))
        for reason in entry.get("reason", []):
            lines.append(f"        because {reason.removeprefix('picks: ')}")
    lines.append(f"  aws-sims: items related to {samples['itemId']} ({samples['itemCategory']}):")
    lines.extend(line(entry) for entry in samples["relatedItems"])
    lines.append("  aws-popularity-count (the same for everyone):")
    lines.extend(line(entry, scored=False) for entry in samples["popularItems"])
    return "\n".join(lines)


def serving_how_to(
    endpoint_url: str,
    region: str,
    campaigns: dict[str, str],
    versions: dict[str, str],
    samples: dict[str, Any],
    unseen: str,
) -> str:
    user, item = samples["userId"], samples["itemId"]
    return f"""\
Campaigns are ACTIVE. Paste into Python to ask them yourself:

  import boto3
  kwargs = dict(endpoint_url="{endpoint_url}", region_name="{region}",
                aws_access_key_id="test", aws_secret_access_key="test")
  runtime = boto3.client("personalize-runtime", **kwargs)
  personalize = boto3.client("personalize", **kwargs)

  # Items for a user, with the interactions behind each one (picks' PICKS_EXPLAIN context);
  # the filter leaves out what the user already viewed or bought
  runtime.get_recommendations(
      campaignArn="{campaigns["aws-user-personalization"]}",
      userId="{user}", numResults=10, context={{"PICKS_EXPLAIN": "true"}},
      filterArn="{unseen}")["itemList"]

  # Items related to an item (aws-sims)
  runtime.get_recommendations(
      campaignArn="{campaigns["aws-sims"]}",
      itemId="{item}", numResults=10)["itemList"]

  # Most popular items (aws-popularity-count)
  runtime.get_recommendations(
      campaignArn="{campaigns["aws-popularity-count"]}",
      userId="{user}", numResults=10)["itemList"]

  # Offline metrics of a solution version
  personalize.get_solution_metrics(
      solutionVersionArn="{versions["aws-user-personalization"]}")["metrics"]
"""


def train_demo(
    endpoint_url: str,
    group_arn: str,
    data: DemoData,
    *,
    region: str = "us-east-1",
    wait_timeout: float = 300,
    quiet: bool = False,
    reuse: bool = False,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Train and deploy the DEMO_SOLUTIONS on the loaded dataset group, through the public API.
    With ``reuse`` a solution that has an ACTIVE version is not trained again.

    Returns solutionArns, solutionVersionArns and campaignArns (keyed by recipe), the versions'
    ``metrics`` (GetSolutionMetrics) and ``recommendations`` (sample GetRecommendations answers).
    """
    personalize = _client("personalize", endpoint_url, region)
    runtime = _client("personalize-runtime", endpoint_url, region)
    say = _sayer(quiet, out)

    started = time.monotonic()
    solutions = {
        recipe: _ensure_solution(personalize, group_arn, f"{DATASET_GROUP}-{short}", recipe)
        for short, recipe in DEMO_SOLUTIONS
    }
    # Start every training before waiting on any: the server trains them side by side.
    versions = {recipe: _start_training(personalize, arn, reuse) for recipe, arn in solutions.items()}
    for recipe, version_arn in versions.items():

        def describe_version(arn: str = version_arn) -> dict[str, Any]:
            version: dict[str, Any] = personalize.describe_solution_version(solutionVersionArn=arn)
            return version["solutionVersion"]

        _wait_active(
            describe_version,
            f"{recipe} solution version {version_arn}",
            wait_timeout,
        )
        say(f"{recipe} solution version ACTIVE ({time.monotonic() - started:.1f}s)")
    metrics = {
        recipe: personalize.get_solution_metrics(solutionVersionArn=arn)["metrics"]
        for recipe, arn in versions.items()
    }
    campaigns = {
        recipe: _ensure_campaign(personalize, f"{DATASET_GROUP}-{short}", versions[recipe], wait_timeout)
        for short, recipe in DEMO_SOLUTIONS
    }
    unseen = _ensure_filter(personalize, group_arn, wait_timeout)
    say(f"campaigns ACTIVE ({time.monotonic() - started:.1f}s)")
    samples = _samples(runtime, campaigns, data, unseen)

    say("")
    say(
        "Offline metrics (GetSolutionMetrics: Personalize's holdout, 10% of users and their newest "
        "interactions):"
    )
    say(metrics_table(metrics))
    say(versus_popularity(metrics))
    say("")
    say(_samples_text(samples))
    say("")
    say(serving_how_to(endpoint_url, region, campaigns, versions, samples, unseen))
    return {
        "solutionArns": solutions,
        "solutionVersionArns": versions,
        "campaignArns": campaigns,
        "metrics": metrics,
        "recommendations": samples,
        "filterArn": unseen,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load the synthetic retail demo into a picks server.")
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL", f"http://127.0.0.1:{os.environ.get('PORT', '4566')}"),
    )
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: the demo's)")
    parser.add_argument("--wait-timeout", type=float, default=300)
    parser.add_argument(
        "--no-train", action="store_true", help="only import the data; train and deploy nothing"
    )
    args = parser.parse_args(argv)
    data = generate(seed=args.seed) if args.seed is not None else None
    try:
        load_demo(
            args.endpoint_url,
            region=args.region,
            data=data,
            wait_timeout=args.wait_timeout,
            train=not args.no_train,
            ecommerce=not args.no_train,
        )
    except DemoLoadError as error:
        print(f"demo load failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
