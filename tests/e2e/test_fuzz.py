"""Fuzzed requests for every operation of the three APIs, over HTTP: never a 5xx, always an answer botocore
parses into success or a modelled exception, and the server keeps answering (see tests/fuzz_wire.py).

This is the quick profile run by ``make test`` (a few requests per operation, derandomized so a run is
reproducible); ``make fuzz`` (bench/fuzz_bench.py) sends 10,000+ random ones.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests import fuzz_wire

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = int(os.environ.get("PICKS_FUZZ_EXAMPLES", "4"))


@pytest.fixture(scope="module")
def seeded(emulator):
    return fuzz_wire.seed(emulator.url)


@pytest.mark.parametrize(
    ("service", "operation"), fuzz_wire.operations(), ids=[f"{s}:{o}" for s, o in fuzz_wire.operations()]
)
def test_fuzzed_requests_get_success_or_a_modelled_error(emulator, seeded, service, operation):
    # No shrinking: each step is an HTTP round trip, and the unshrunk request is printed all the same.
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(request=fuzz_wire.requests(service, operation))
    def check(request):
        answer = fuzz_wire.send(emulator.url, request)
        assert fuzz_wire.problems(request, answer) == []

    check()
    assert fuzz_wire.server_answers(emulator.url)


def test_the_fuzzer_covers_every_operation_of_the_three_apis():
    covered = fuzz_wire.operations()
    assert len({o for s, o in covered if s == "personalize"}) >= 70
    assert {o for s, o in covered if s != "personalize"} == {
        "GetRecommendations",
        "GetPersonalizedRanking",
        "GetActionRecommendations",
        "PutEvents",
        "PutItems",
        "PutUsers",
        "PutActions",
        "PutActionInteractions",
    }
