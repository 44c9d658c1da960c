"""One training run: the loop in phases, the compiled steps, checkpoint state, resume rules,
evaluation during training, devices, the start-up announcement and export. Imports from core,
data, model and doctor."""
