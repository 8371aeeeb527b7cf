"""`make demo`'s loader end to end: import, train the three demo solutions, deploy a campaign each,
report metrics and sample recommendations — all through stock boto3 against the emulator."""

from __future__ import annotations

import contextlib
import io

import pytest

from demo import ecommerce
from demo.ecommerce import ecommerce_demo
from demo.load import DEMO_SOLUTIONS, METRIC_COLUMNS, load_demo, main
from demo.synthetic import generate
from tests.conftest import client_for
from tests.utils import METRIC_KEYS

pytestmark = pytest.mark.e2e

RECIPES = [recipe for _, recipe in DEMO_SOLUTIONS]


@pytest.fixture(scope="module")
def data():
    return generate(n_users=200, n_items=80, n_interactions=5000, seed=3)


@pytest.fixture(scope="module")
def loaded(emulator, data):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        summary = load_demo(emulator.url, data=data, train=True, wait_timeout=120)
    return summary, printed.getvalue()


@pytest.fixture(scope="module")
def personalize(emulator):
    return client_for(emulator, "personalize")


def test_every_demo_campaign_is_active_on_its_version(loaded, personalize):
    summary, _ = loaded
    assert set(summary["campaignArns"]) == set(RECIPES) == set(summary["solutionVersionArns"])
    for recipe in RECIPES:
        solution = personalize.describe_solution(solutionArn=summary["solutionArns"][recipe])["solution"]
        assert solution["recipeArn"] == f"arn:aws:personalize:::recipe/{recipe}"
        assert solution["datasetGroupArn"] == summary["datasetGroupArn"]
        version = personalize.describe_solution_version(
            solutionVersionArn=summary["solutionVersionArns"][recipe]
        )["solutionVersion"]
        assert version["status"] == "ACTIVE"
        campaign = personalize.describe_campaign(campaignArn=summary["campaignArns"][recipe])["campaign"]
        assert campaign["status"] == "ACTIVE"
        assert campaign["solutionVersionArn"] == summary["solutionVersionArns"][recipe]


def test_summary_has_each_versions_metrics(loaded, personalize):
    summary, _ = loaded
    for recipe in RECIPES:
        metrics = summary["metrics"][recipe]
        assert set(metrics) == METRIC_KEYS
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
        assert (
            metrics
            == personalize.get_solution_metrics(solutionVersionArn=summary["solutionVersionArns"][recipe])[
                "metrics"
            ]
        )
    # One list for everyone covers 25 items at most; personalization covers more of the catalog.
    assert summary["metrics"]["aws-popularity-count"]["coverage"] <= 25 / 80 + 1e-9
    assert (
        summary["metrics"]["aws-user-personalization"]["coverage"]
        > summary["metrics"]["aws-popularity-count"]["coverage"]
    )


def test_summary_has_sample_recommendations(loaded, data):
    summary, _ = loaded
    samples = summary["recommendations"]
    users = {row[0] for row in data.users}
    items = {row[0]: row[1] for row in data.items}
    assert samples["userId"] in users
    history = [row[1] for row in data.interactions if row[0] == samples["userId"]]
    assert samples["itemId"] in history
    for key in ("userRecommendations", "relatedItems", "popularItems"):
        listed = samples[key]
        assert len(listed) == 5 and len({entry["itemId"] for entry in listed}) == 5
        assert all(entry["category"] == items[entry["itemId"]] for entry in listed)
    assert samples["itemId"] not in {entry["itemId"] for entry in samples["relatedItems"]}
    # "Recommended for you" leaves out what the user already viewed or bought (the demo's filter).
    assert not {entry["itemId"] for entry in samples["userRecommendations"]} & set(history)
    # PICKS_EXPLAIN: the reasons name the user's own interactions.
    reasons = [reason for entry in samples["userRecommendations"] for reason in entry.get("reason", [])]
    assert reasons and all(any(f"item {item} " in reason for item in history) for reason in reasons)
    assert [h["itemId"] for h in samples["userHistory"]] == [
        row[1]
        for row in sorted((r for r in data.interactions if r[0] == samples["userId"]), key=lambda r: r[2])
    ][-5:]


def test_printed_report_has_the_table_samples_and_snippets(loaded):
    summary, printed = loaded
    for _, title in METRIC_COLUMNS:
        assert title in printed
    report = printed[printed.index("Offline metrics") :]
    table = [line.split() for line in report.splitlines()[1:5]]
    assert table[0] == ["recipe"] + [title for _, title in METRIC_COLUMNS]
    assert [row[0] for row in table[1:]] == RECIPES
    for recipe in RECIPES:
        row = " ".join(next(cells for cells in table if cells[0] == recipe))
        values = [float(cell) for cell in row.split()[1:]]
        expected = [summary["metrics"][recipe][key] for key, _ in METRIC_COLUMNS]
        assert values == pytest.approx(expected, abs=1e-4)
        assert summary["campaignArns"][recipe] in printed
    assert "PICKS_EXPLAIN" in printed and "because interacted with item" in printed
    personal, popular = (
        summary["metrics"][r]["precision_at_10"] for r in ("aws-user-personalization", "aws-popularity-count")
    )
    assert f"is {personal / popular:.1f}x aws-popularity-count's" in report.splitlines()[5]
    assert summary["recommendations"]["userId"] in printed
    assert "runtime.get_recommendations(" in printed and 'boto3.client("personalize-runtime"' in printed


def test_loading_again_retrains_and_moves_the_campaigns(loaded, emulator, data, personalize):
    first, _ = loaded
    again = load_demo(emulator.url, data=data, train=True, quiet=True, wait_timeout=120)
    assert again["solutionArns"] == first["solutionArns"]
    assert again["campaignArns"] == first["campaignArns"]
    for recipe in RECIPES:
        assert again["solutionVersionArns"][recipe] != first["solutionVersionArns"][recipe]
        campaign = personalize.describe_campaign(campaignArn=again["campaignArns"][recipe])["campaign"]
        assert campaign["solutionVersionArn"] == again["solutionVersionArns"][recipe]
        assert campaign["latestCampaignUpdate"]["status"] == "ACTIVE"


def test_command_line_without_training(emulator, capsys):
    assert main(["--endpoint-url", emulator.url, "--no-train", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "The demo is loaded" in out and "Offline metrics" not in out


def test_a_restarted_demo_reuses_its_data_and_models(loaded, emulator, data, personalize):
    """`make demo` on a kept state: nothing is imported or trained again, the campaigns serve."""
    first, _ = loaded

    def versions() -> dict[str, list[str]]:
        return {
            recipe: sorted(
                v["solutionVersionArn"]
                for v in personalize.list_solution_versions(solutionArn=arn)["solutionVersions"]
            )
            for recipe, arn in first["solutionArns"].items()
        }

    def imports() -> dict[str, list[str]]:
        return {
            kind: sorted(
                j["datasetImportJobArn"]
                for j in personalize.list_dataset_import_jobs(datasetArn=arn)["datasetImportJobs"]
            )
            for kind, arn in first["datasetArns"].items()
        }

    trained, imported = versions(), imports()
    again = load_demo(emulator.url, data=data, train=True, quiet=True, wait_timeout=120, reuse=True)
    assert versions() == trained and imports() == imported
    assert again["campaignArns"] == first["campaignArns"]
    for recipe in RECIPES:
        campaign = personalize.describe_campaign(campaignArn=again["campaignArns"][recipe])["campaign"]
        assert campaign["status"] == "ACTIVE"
        assert campaign["solutionVersionArn"] == again["solutionVersionArns"][recipe]
        assert again["solutionVersionArns"][recipe] in trained[recipe]
    assert again["recommendations"]["userRecommendations"]


def test_ecommerce_part_loads_a_domain_group_and_serves_its_use_cases(emulator, personalize):
    """`make demo`'s ECOMMERCE part: the domain dataset group with its three datasets imported, then
    the two recommenders side by side (a build without recommenders says so in one line instead:
    tests/unit/test_demo_ecommerce.py)."""
    data = generate(n_users=300, n_items=120, n_interactions=15_000, seed=5)
    said: list[str] = []
    loaded = ecommerce_demo(emulator.url, data, wait_timeout=120, say=said.append)
    group = personalize.describe_dataset_group(datasetGroupArn=loaded["datasetGroupArn"])["datasetGroup"]
    assert group["domain"] == "ECOMMERCE" and group["name"] == ecommerce.DATASET_GROUP
    for arn in loaded["datasetImportJobArns"].values():
        assert (
            personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]["status"]
            == "ACTIVE"
        )
    printed = "\n".join(said)
    assert loaded["available"], said  # this build serves recommenders
    assert ecommerce.UNAVAILABLE.format(group=loaded["datasetGroupArn"]) not in said
    answers = loaded["answers"]
    assert len(answers["recommendedForYou"]) == len(answers["frequentlyBoughtTogether"]) == 5
    # Recommended for you auto-filters purchased items; the planted partner is bought together first.
    bought = {row[1] for row in data.interactions if row[0] == answers["userId"] and row[3] == "Purchase"}
    seen = {row[1] for row in data.interactions if row[0] == answers["userId"]}
    assert not {entry["itemId"] for entry in answers["recommendedForYou"]} & (bought | seen)
    assert answers["frequentlyBoughtTogether"][0]["itemId"] == answers["plantedPartner"]
    assert ecommerce.answers_text(answers) in printed
