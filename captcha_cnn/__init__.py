"""captcha_cnn: what happens when softmax output is fed to softmax_cross_entropy_with_logits."""

__version__ = "0.1.0"
