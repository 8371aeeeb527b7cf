"""The demo's ECOMMERCE part: a domain dataset group and its recommenders, with stock boto3.

The same synthetic retail data (``demo.synthetic``: View and Purchase events, planted
co-purchases) goes into an ECOMMERCE dataset group under the domain's default schemas (Items:
ITEM_ID, PRICE, CATEGORY_L1, ...), then two use cases are created as recommenders, with no recipe to
choose: "Recommended for you" (for a user) and "Frequently bought together" (for an item).  Their
answers are printed side by side.

A picks build without recommenders answers CreateRecommender with an unknown- or unsupported-
operation error: the demo then says so in one line and carries on.
"""

from __future__ import annotations

import csv
import io
import itertools
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from demo.load import (
    BUCKET,
    RECIPE_ARN,
    SAMPLE_RESULTS,
    GroupData,
    Say,
    _client,
    _clients,
    _ensure_filter,
    _error_code,
    _find,
    _import_group,
    _paginate,
    _sample_user,
    _wait_active,
)
from demo.schemas import avro_schema
from demo.synthetic import INTERACTIONS_SCHEMA

if TYPE_CHECKING:
    from collections.abc import Sequence

    from demo.synthetic import DemoData

__all__ = [
    "DATASET_GROUP",
    "DOMAIN",
    "USE_CASES",
    "domain_data",
    "ecommerce_demo",
    "recommenders_unavailable",
    "side_by_side",
]

DOMAIN = "ECOMMERCE"
DATASET_GROUP = "picks-demo-ecommerce"
S3_PREFIX = "ecommerce/"
RECOMMENDED_FOR_YOU = "aws-ecomm-recommended-for-you"
FREQUENTLY_BOUGHT_TOGETHER = "aws-ecomm-frequently-bought-together"
# (short name, use-case recipe): one recommender each.
USE_CASES = (
    ("recommended-for-you", RECOMMENDED_FOR_YOU),
    ("frequently-bought-together", FREQUENTLY_BOUGHT_TOGETHER),
)
ITEMS_HEADER = ("ITEM_ID", "PRICE", "CATEGORY_L1", "PRODUCT_DESCRIPTION", "CREATION_TIMESTAMP")
USERS_HEADER = ("USER_ID", "MEMBERSHIP_STATUS", "AGE_GROUP")
# The ECOMMERCE default schemas' required and reserved fields (the interactions are as the demo's).
ITEMS_SCHEMA = avro_schema(
    "Items",
    ("ITEM_ID", "string"),
    ("PRICE", "float"),
    ("CATEGORY_L1", "string", "categorical"),
    ("PRODUCT_DESCRIPTION", "string", "textual"),
    ("CREATION_TIMESTAMP", "long"),
)
USERS_SCHEMA = avro_schema(
    "Users",
    ("USER_ID", "string"),
    ("MEMBERSHIP_STATUS", "string", "categorical"),
    ("AGE_GROUP", "string", "categorical"),
)
UNAVAILABLE = (
    "ECOMMERCE recommenders (Recommended for you, Frequently bought together) are not available in "
    "this build of picks: the domain dataset group {group} is loaded, nothing is served from it."
)
# A column of the side-by-side table: never narrower than this.
MIN_COLUMN = 24


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def domain_data(data: DemoData) -> GroupData:
    """The demo data as an ECOMMERCE dataset group imports it (the domain's field names)."""
    items = [
        (item_id, price, category, text, created) for item_id, category, price, text, created in data.items
    ]
    return GroupData(
        group=DATASET_GROUP,
        schemas={"INTERACTIONS": INTERACTIONS_SCHEMA, "ITEMS": ITEMS_SCHEMA, "USERS": USERS_SCHEMA},
        texts={
            "users": _csv(USERS_HEADER, data.users),
            "items": _csv(ITEMS_HEADER, items),
            "interactions": data.interactions_csv,
        },
        domain=DOMAIN,
        prefix=S3_PREFIX,
    )


def recommenders_unavailable(error: ClientError) -> bool:
    """Whether CreateRecommender's error says this build has no recommenders (rather than that the
    request was wrong)."""
    code = _error_code(error)
    message = str(error.response.get("Error", {}).get("Message", ""))
    return code == "UnknownOperationException" or (
        code == "InvalidInputException" and "not supported" in message
    )


def _ensure_recommender(personalize: Any, group_arn: str, name: str, recipe: str) -> str:
    try:
        return str(
            personalize.create_recommender(
                name=name, datasetGroupArn=group_arn, recipeArn=RECIPE_ARN + recipe
            )["recommenderArn"]
        )
    except personalize.exceptions.ResourceAlreadyExistsException:
        listed = _paginate(personalize, "list_recommenders", "recommenders", datasetGroupArn=group_arn)
        return str(_find(listed, name=name)["recommenderArn"])


def _last_purchase(data: DemoData, user: str) -> str:
    """The user's newest purchase (the newest item they interacted with if they bought nothing)."""
    rows = [row for row in data.interactions if row[0] == user]
    bought = [row for row in rows if row[3] == "Purchase"] or rows
    return max(bought, key=lambda row: row[2])[1]


def side_by_side(
    left_title: str, left: Sequence[str], right_title: str, right: Sequence[str], gap: int = 4
) -> str:
    """Two titled columns of lines, the left one padded to its widest line."""
    width = max(MIN_COLUMN, len(left_title), *(len(line) for line in left))
    lines = [f"  {left_title.ljust(width)}{' ' * gap}{right_title}".rstrip()]
    for one, other in itertools.zip_longest(left, right, fillvalue=""):
        lines.append(f"  {one.ljust(width)}{' ' * gap}{other}".rstrip())
    return "\n".join(lines)


def _entries(items: list[dict[str, Any]], category: dict[str, str], marked: str | None = None) -> list[str]:
    return [
        f"{entry['itemId']}  {category.get(entry['itemId'], '?'):<12}"
        + (" *" if entry["itemId"] == marked else "")
        for entry in items
    ]


def answers_text(answers: dict[str, Any]) -> str:
    """The two recommenders' answers side by side, as the demo prints them."""
    category = answers["categories"]
    item = answers["itemId"]
    table = side_by_side(
        f"Recommended for you ({answers['userId']}, unseen)",
        _entries(answers["recommendedForYou"], category),
        f"Frequently bought together with {item} ({category.get(item, '?')})",
        _entries(answers["frequentlyBoughtTogether"], category, answers.get("plantedPartner")),
    )
    lines = [
        f"ECOMMERCE recommenders (GetRecommendations with recommenderArn, {SAMPLE_RESULTS} each):",
        "",
        table,
    ]
    if answers.get("plantedPartner"):
        lines.append(f"  * {item}'s planted bought-together partner in the synthetic data")
    return "\n".join(lines)


def _answers(runtime: Any, recommenders: dict[str, str], data: DemoData, unseen: str) -> dict[str, Any]:
    user = _sample_user(data)
    item = _last_purchase(data, user)
    # The use case filters purchased items itself; the group's filter leaves out viewed ones too.
    for_you = runtime.get_recommendations(
        recommenderArn=recommenders[RECOMMENDED_FOR_YOU],
        userId=user,
        numResults=SAMPLE_RESULTS,
        filterArn=unseen,
    )["itemList"]
    together = runtime.get_recommendations(
        recommenderArn=recommenders[FREQUENTLY_BOUGHT_TOGETHER], itemId=item, numResults=SAMPLE_RESULTS
    )["itemList"]
    return {
        "userId": user,
        "itemId": item,
        "plantedPartner": data.bought_together.get(item),
        "recommendedForYou": for_you,
        "frequentlyBoughtTogether": together,
        "categories": {row[0]: row[1] for row in data.items},
    }


def ecommerce_demo(
    endpoint_url: str,
    data: DemoData,
    *,
    region: str = "us-east-1",
    wait_timeout: float = 300,
    reuse: bool = False,
    say: Say = print,
) -> dict[str, Any]:
    """Load ``data`` into the ECOMMERCE dataset group, create the USE_CASES' recommenders, wait for
    them (DemoLoadError if one fails) and print their answers side by side.  Returns the group's
    ARNs, ``recommenderArns`` (by recipe) and ``answers``; ``available`` is False (and there are no
    recommenders) on a build without them."""
    s3, personalize = _clients(endpoint_url, region)
    say("")
    say(f"ECOMMERCE domain: the same shoppers in an {DOMAIN} dataset group, served by use cases")
    loaded: dict[str, Any] = {
        "bucket": BUCKET,
        **_import_group(
            s3, personalize, region, domain_data(data), timeout=wait_timeout, reuse=reuse, say=say
        ),
        "available": False,
    }
    group_arn = loaded["datasetGroupArn"]
    try:
        recommenders = {
            recipe: _ensure_recommender(personalize, group_arn, f"{DATASET_GROUP}-{short}", recipe)
            for short, recipe in USE_CASES
        }
    except ClientError as error:
        if not recommenders_unavailable(error):
            raise
        say(UNAVAILABLE.format(group=group_arn))
        return loaded
    for recipe, arn in recommenders.items():

        def describe(arn: str = arn) -> dict[str, Any]:
            found: dict[str, Any] = personalize.describe_recommender(recommenderArn=arn)["recommender"]
            return found

        _wait_active(describe, f"{recipe} recommender {arn}", wait_timeout)
        say(f"{recipe} recommender ACTIVE")
    unseen = _ensure_filter(personalize, group_arn, wait_timeout, name=f"{DATASET_GROUP}-unseen")
    runtime = _client("personalize-runtime", endpoint_url, region)
    answers = _answers(runtime, recommenders, data, unseen)
    say("")
    say(answers_text(answers))
    return {**loaded, "available": True, "recommenderArns": recommenders, "answers": answers}
