"""A pytest plugin for the mutation run (``-p benchmarks.mutate_hypothesis``): hypothesis
draws the same seeded examples as in ``make test`` but does not shrink a failure, since the
run only needs to know that a test failed, not its smallest example."""

from hypothesis import Phase, settings

settings.register_profile(
    "mutate",
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
