"""The corpus of malformed Pipelines and Runs (tests/chaos/malformed): well formed as a corpus, and the
operator's own checks give the messages the files promise (the integration test applies them to a cluster)."""

from __future__ import annotations

import pytest

from kubeline.api.problems import PipelineInvalid
from kubeline.engine.plan import build, load_spec
from kubeline.engine.run import bind_arguments, default_values
from tests.helpers import Malformed, malformed_corpus

CORPUS = malformed_corpus()


def test_the_corpus_has_at_least_50_cases_with_distinct_names() -> None:
    assert len(CORPUS) >= 50
    names = [name for case in CORPUS for name in case.names]
    assert len(names) == len(set(names))
    assert {case.outcome for case in CORPUS} == {"rejected", "failed", "pending"}


@pytest.mark.parametrize("case", [c for c in CORPUS if c.outcome == "failed"], ids=lambda c: c.path.stem)
def test_what_the_operator_fails_it_fails_with_the_promised_message(case: Malformed) -> None:
    """The operator's start of a Run: freeze the pipeline (inline, or the Pipeline in the same file), bind the
    arguments; the message must name what is wrong."""
    run = next(d for d in case.documents if d["kind"] == "Run")
    pipeline = run["spec"].get("pipelineSpec") or next(d["spec"] for d in case.documents if d["kind"] == "Pipeline")
    with pytest.raises((PipelineInvalid, ValueError)) as refused:
        plan = build(load_spec(pipeline, "pipeline.spec"))
        identity = {"name": case.run, "namespace": "ns", "uid": "uid"}
        bind_arguments(plan, {**default_values(plan, identity), **(run["spec"].get("arguments") or {})})
    assert case.message in str(refused.value)
