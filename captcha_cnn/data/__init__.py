"""Captcha rendering and its checksummed cache, the label codec, and the tf.data pipeline.
Imports only from core."""
