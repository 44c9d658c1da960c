"""The doctor panel: real failing Keras programs, their fixes and healthy models (issue 30)."""
