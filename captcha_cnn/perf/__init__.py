"""Speed: the benchmark, the time-to-98% recipes and the step profile."""
