"""Reading finished (or running) runs: comparison figure and table, and reading an image file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from captcha_cnn.analysis.plots import has_unit_health, plot_runs, plot_unit_health
from captcha_cnn.core.errors import UserError
from captcha_cnn.core.files import write_atomically
from captcha_cnn.core.run_dir import RunDir
from captcha_cnn.data.captchas import to_gray
from captcha_cnn.data.labels import LabelCodec, char_blocks
from captcha_cnn.data.pixels import scale_gray
from captcha_cnn.doctor.runs import diagnose_rows
from captcha_cnn.model.levels import config_chance_levels, config_loss_levels


def load_run(path: Path) -> dict:
    """A run's config, metrics rows and reference levels; a clear error if `path` is not a run."""
    run = RunDir(path)
    if not run.config.is_file():
        raise UserError(f"{path}: not a run directory (no config.yaml)")
    config = run.read_config()
    environment = run.read_environment()
    rows = run.read_metrics()
    if not rows:
        raise UserError(f"{run.metrics}: no evaluation rows yet (the run has not reached its "
                        f"first train.eval_every step)")
    return {"path": run.path, "label": run.path.name, "config": config, "rows": rows,
            "finished": run.is_finished(), "device": environment.get("device", "unknown"),
            "environment": environment,
            "loss_levels": config_loss_levels(config), "chance": config_chance_levels(config)}


def summary_table(runs: list[dict]) -> str:
    """Markdown table: each run's last and best held-out numbers."""
    lines = ["| run | loss | layout | optimizer | steps | test loss | per-char acc | whole acc "
             "| best per-char | best whole | loss floor | minutes | finished | doctor |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for run in runs:
        last, train = run["rows"][-1], run["config"]["train"]
        verdict = diagnose_rows(run["config"], run["rows"])[-1]
        lines.append(
            f"| {run['label']} | {run['config']['loss']['name']} | "
            f"{run['config']['loss']['layout']} | {train['optimizer']} {train['learning_rate']:g} | "
            f"{last['step']} | {last['test_loss']:.3f} | {last['test_char_acc']:.3f} | "
            f"{last['test_whole_acc']:.3f} | "
            f"{max(r['test_char_acc'] for r in run['rows']):.3f} | "
            f"{max(r['test_whole_acc'] for r in run['rows']):.3f} | "
            f"{run['loss_levels']['floor']:.3f} | {last['elapsed_s'] / 60:.1f} | "
            f"{'yes' if run['finished'] else 'no'} | {verdict.kind} since {verdict.step:,} |")
    return "\n".join(lines) + "\n"


def compare(run_paths: list[Path], out: Path, until: int | None = None,
            show: bool = True) -> list[Path]:
    """Plot the runs side by side and write their table (and print it if `show`); return the
    paths written: the curves, the table and, for runs that logged unit health, units.png. With
    `until`, only evaluations up to that step count (to compare runs of different lengths)."""
    runs = [load_run(path) for path in run_paths]
    if until is not None:
        for run in runs:
            run["rows"] = [row for row in run["rows"] if row["step"] <= until]
            if not run["rows"]:
                raise UserError(f"--until {until}: {run['path']} has no evaluation by step "
                                f"{until}")
    labels = [run["label"] for run in runs]
    if len(set(labels)) < len(labels):  # Two runs/…/correct folders: use the longer paths.
        for run in runs:
            run["label"] = str(run["path"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figure, table_path = out / "curves.png", out / "summary.md"
    plot_runs(runs, figure)
    written = [figure, table_path]
    if any(has_unit_health(run["rows"]) for run in runs):
        written.append(out / "units.png")
        plot_unit_health(runs, written[-1])
    table = summary_table(runs)
    devices = sorted({run["device"] for run in runs})
    span = f"up to step {until}" if until is not None else "over the run"
    write_atomically(table_path, (f"Held-out numbers at the last evaluation and the best {span}"
                                  f". Device: {'; '.join(devices)}.\n\n{table}").encode())
    if show:
        print(table)
    return written


def read_image_array(path: Path, width: int, height: int) -> np.ndarray:
    """The image file as the model sees it: gray floats in [0, 1], shape [1, height, width, 1]."""
    if not Path(path).is_file():
        raise UserError(f"{path}: image file not found")
    try:
        with Image.open(path) as image:
            image.load()
            gray = to_gray(image)
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"{path}: not a readable image ({error.__class__.__name__})") from None
    if gray.shape != (height, width):
        raise UserError(f"{path}: image is {gray.shape[1]}x{gray.shape[0]}, the run was trained "
                        f"on {width}x{height} (data.width x data.height)")
    return scale_gray(gray[None, :, :, None].astype(np.float32))


def load_trained_model(run_path: Path):
    """The run's final model, or, for an unfinished run, the model at its latest checkpoint."""
    import keras

    from captcha_cnn.model.networks import build_model
    from captcha_cnn.train.checkpoint import assign_checked, model_variables

    run = RunDir(run_path)
    if run.model.is_file():
        return keras.saving.load_model(run.model, safe_mode=True)
    model = build_model(run.read_config())
    loaded = run.load_latest_checkpoint()
    if loaded is None:
        raise UserError(f"{run.path}: no final model and no readable checkpoint with finite "
                        f"weights to read images with")
    assign_checked(model_variables(model), loaded[1], run.checkpoints)
    return model


def read_image(run_path: Path, image_path: Path) -> tuple[str, np.ndarray]:
    """The text the run's model reads in an image file, and each character's probability."""
    run = load_run(run_path)
    data = run["config"]["data"]
    codec = LabelCodec(data["charset"], data["length"])
    pixels = read_image_array(image_path, data["width"], data["height"])
    logits = np.asarray(load_trained_model(run_path)(pixels, training=False))[0]
    if not np.isfinite(logits).all():
        raise UserError(f"{run_path}: the model's output for {image_path} is not finite "
                        f"({np.count_nonzero(~np.isfinite(logits))} of {logits.size} logits): "
                        f"its weights diverged, so it cannot read images; train a run that "
                        f"does not diverge (a smaller train.learning_rate)")
    blocks = char_blocks(logits, codec.length)
    probabilities = np.exp(blocks - blocks.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return codec.decode(logits), probabilities.max(axis=-1)
