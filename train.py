"""Train the captcha CNN with the loss a config chooses.

    python train.py --config correct.yaml                      # runs/correct
    python train.py --config buggy.yaml --set train.steps=1000 # any key can be overridden
    python train.py --config correct.yaml --resume             # continue an interrupted run
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from captcha_cnn.core.cli import import_tensorflow_quietly, make_verbose, run_cli
from captcha_cnn.core.config import load_config
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import check_folder_argument
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.data.sources import prepare_data
from captcha_cnn.model.memory import check_memory


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="a file in configs/ (correct.yaml, buggy.yaml, ...) "
                        "or a path; optional with --resume --run-dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override one key, e.g. train.steps=200")
    parser.add_argument("--run-dir", type=Path, help="where the run is written "
                        "(default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in the run directory from its last checkpoint")
    parser.add_argument("--allow-new-captcha", action="store_true",
                        help="with --resume: continue even though another captcha release is "
                        "installed (the rest of the run trains on newly drawn captchas)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where generated captcha sets are cached (default: data/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own start-up messages")
    args = parser.parse_args(argv)
    if args.verbose:
        make_verbose()

    config_name = args.config
    experiment = None
    if config_name is None:
        if not (args.resume and args.run_dir):
            parser.error("--config is required (or --resume with --run-dir)")
        saved = RunDir(args.run_dir).config
        config_name = str(saved)
        if not saved.is_file():
            raise UserError(f"{args.run_dir}: no run to resume (no config.yaml)")
        RunDir(args.run_dir).read_config()  # Checked as a run's config: the reader says what to do.
        experiment = args.run_dir.name
    config, name = load_config(config_name, args.overrides)
    source = " with --set ".join([config_name, " ".join(args.overrides)] if args.overrides
                                 else [config_name])
    for flag, folder in (("--run-dir", args.run_dir), ("--data-dir", args.data_dir)):
        if folder is not None:
            check_folder_argument(folder, flag)
    # Before TensorFlow loads: an undrawable charset, or a folder's bad files or labels, fail in
    # a second; a folder is read into the cache here and its charset and length join the config.
    check_memory(config, source)
    config = prepare_data(config, source, args.data_dir, progress=not args.no_progress)

    import_tensorflow_quietly()  # Only once the config is valid: a bad one fails in a second.
    from captcha_cnn.train.loop import train

    train(config, experiment or name, run_dir=args.run_dir, resume=args.resume,
          data_dir=args.data_dir, progress=not args.no_progress,
          allow_new_captcha=args.allow_new_captcha)


if __name__ == "__main__":
    sys.exit(run_cli(main))
