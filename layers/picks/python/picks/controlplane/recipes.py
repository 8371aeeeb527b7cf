"""ListRecipes / DescribeRecipe / DescribeAlgorithm / DescribeFeatureTransformation.

The catalog is global and read-only, so these answer from ``picks.recipe_catalog`` without touching the
resource table.  Every recipe Personalize documents is listed, including those picks cannot train
yet: a client that looks a recipe up by its real ARN gets a real answer, and CreateSolution is the
one place that says which recipes picks trains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picks import recipe_catalog as catalog
from picks.controlplane.common import paginate
from picks.controlplane.registry import operation
from picks.domain.states import ACTIVE

if TYPE_CHECKING:
    from picks.services import Services

# picks runs every algorithm with its one training image under the SageMaker training contract.
TRAINING_IMAGE = "picks-training"
# Applies when a solution turns on HPO without naming its own hpoResourceConfig.
DEFAULT_RESOURCE_CONFIG = {"maxNumberOfTrainingJobs": "20", "maxParallelTrainingJobs": "5"}


def _catalog_dates() -> dict[str, float]:
    return {"creationDateTime": catalog.CATALOG_TIMESTAMP, "lastUpdatedDateTime": catalog.CATALOG_TIMESTAMP}


def recipe_doc(recipe: catalog.Recipe) -> dict[str, Any]:
    return {
        "name": recipe.name,
        "recipeArn": recipe.arn,
        "algorithmArn": recipe.algorithm_arn,
        "featureTransformationArn": recipe.feature_transformation_arn,
        "status": ACTIVE,
        "description": recipe.description,
        "recipeType": recipe.recipe_type,
        "domain": recipe.domain,
        **_catalog_dates(),
    }


@operation("ListRecipes")
def list_recipes(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    # recipeProvider has one value, SERVICE (the model's enum), and every built-in recipe has it.
    domain = params.get("domain")
    chosen = [recipe for recipe in catalog.RECIPES.values() if domain is None or recipe.domain == domain]
    fields = ("name", "recipeArn", "status", "creationDateTime", "lastUpdatedDateTime", "domain")
    docs = [{key: value for key, value in recipe_doc(recipe).items() if key in fields} for recipe in chosen]
    page, token = paginate(docs, params, scope=f"recipe:{domain or ''}")
    return {"recipes": page, "nextToken": token}


@operation("DescribeRecipe")
def describe_recipe(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    return {"recipe": recipe_doc(catalog.recipe_for_arn(params["recipeArn"]))}


@operation("DescribeAlgorithm")
def describe_algorithm(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    recipe = catalog.recipe_for_algorithm_arn(params["algorithmArn"])
    return {
        "algorithm": {
            "name": recipe.algorithm,
            "algorithmArn": recipe.algorithm_arn,
            "algorithmImage": {"name": recipe.algorithm, "dockerURI": f"{TRAINING_IMAGE}:{recipe.algorithm}"},
            "defaultHyperParameters": dict(recipe.default_hyperparameters),
            "defaultHyperParameterRanges": recipe.default_hyperparameter_ranges(),
            "defaultResourceConfig": dict(DEFAULT_RESOURCE_CONFIG),
            "trainingInputMode": "File",
            **_catalog_dates(),
        }
    }


@operation("DescribeFeatureTransformation")
def describe_feature_transformation(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    transformation = catalog.feature_transformation_for_arn(params["featureTransformationArn"])
    return {
        "featureTransformation": {
            "name": transformation.name,
            "featureTransformationArn": transformation.arn,
            "defaultParameters": dict(transformation.default_parameters),
            "status": ACTIVE,
            **_catalog_dates(),
        }
    }
