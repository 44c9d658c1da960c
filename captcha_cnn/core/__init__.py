"""The bottom layer: config, errors, atomic files, the run directory on disk, machine facts and
stop signals. Imports nothing from the other layers, and no TensorFlow (config errors come fast)."""
