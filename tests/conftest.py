"""Shared test settings: one hypothesis profile for the whole suite, sized for a 2-core machine."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dp",
    max_examples=30,
    deadline=None,  # first calls into NumPy/PyTorch are slow; time is measured in benchmarks, not here
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dp")
