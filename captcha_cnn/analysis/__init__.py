"""Reading finished runs: the comparison table and figures, reading an image with a trained run,
and the map of every measured setting. Imports from every layer below experiments."""
