"""Many runs from one file: plans, the sweep and the reproduction with its report."""
