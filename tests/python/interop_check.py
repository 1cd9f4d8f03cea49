"""Python-side checks of what lamin-cpp writes, with the real packages users load it with.

Runs the `train_regression` example into a temporary folder, then checks that:
  * every checkpoint opens with `torch.load(path, weights_only=True)` (torch >= 2) without a GPU mapping;
  * Lightning's `LightningModule.load_from_checkpoint` accepts it for a Python module with the same parameter names,
    restores the hyperparameters, and predicts what the C++ program reported;
  * TensorBoard's own event reader reads the scalars and the hparams summary.
Each part is skipped (exit code 77 when nothing could run) if its package is missing.

    python3 interop_check.py BUILD/bin/train_regression
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

SKIP = 77


def main() -> int:
    train = sys.argv[1]
    try:
        import torch
    except ImportError:
        print("SKIP: torch is not installed")
        return SKIP
    major = int(torch.__version__.split(".")[0])
    root = tempfile.mkdtemp(prefix="lamin_interop_")
    out = subprocess.run([train, root], check=True, capture_output=True, text=True).stdout
    print(out)
    log_dir = re.search(r"log dir:\s+(\S+)", out).group(1)
    best = re.search(r"best checkpoint:\s+(\S+)", out).group(1)
    cpp_mse = float(re.search(r"val mse ([0-9.]+)", out).group(1))
    ran = []

    # 1. torch.load, CPU only, weights_only where the reader supports floats.
    ckpts = sorted(glob.glob(os.path.join(log_dir, "checkpoints", "*.ckpt")))
    assert ckpts, "no checkpoints written"
    for path in ckpts:
        ckpt = torch.load(path, weights_only=major >= 2)
        assert ckpt["pytorch-lightning_version"] == "2.6.6"
        assert all(t.device.type == "cpu" for t in ckpt["state_dict"].values())
        assert ckpt["hyper_parameters"] == {"batch_size": 64, "hidden": 32, "lr": 0.01}, ckpt["hyper_parameters"]
    ran.append("torch.load(weights_only=%s) x%d" % (major >= 2, len(ckpts)))

    # 2. Lightning's load_from_checkpoint, and the same predictions as the C++ program.
    try:
        try:
            import lightning.pytorch as L
        except ImportError:
            import pytorch_lightning as L
    except ImportError:
        L = None
    if L is not None:
        from torch import nn

        class Regressor(L.LightningModule):
            def __init__(self, hidden=8, lr=1.0, batch_size=1):
                super().__init__()
                self.save_hyperparameters()
                self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                         nn.Linear(hidden, 1))

            def forward(self, x):
                return self.net(x)

        model = Regressor.load_from_checkpoint(best, map_location="cpu")
        assert model.hparams.hidden == 32 and model.hparams.lr == 0.01, model.hparams
        torch.manual_seed(2)  # the example's validation data, from the same CPU generator
        x = torch.rand(1024, 2) * 2 - 1
        y = (torch.sin(3 * x[:, 0]) + 0.5 * x[:, 1].pow(2) + 0.05 * torch.randn(1024)).unsqueeze(1)
        with torch.no_grad():
            mse = torch.nn.functional.mse_loss(model(x), y).item()
        assert abs(mse - cpp_mse) < 1e-4, (mse, cpp_mse)
        ran.append("lightning %s load_from_checkpoint (val mse %.5f == C++ %.5f)" % (L.__version__, mse, cpp_mse))

    # 3. TensorBoard's reader.
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        EventAccumulator = None
    if EventAccumulator is not None:
        acc = EventAccumulator(log_dir)
        acc.Reload()
        tags = acc.Tags()["scalars"]
        for tag in ("train_loss_step", "train_loss_epoch", "val_loss", "hp_metric"):
            assert tag in tags, (tag, tags)
        epochs = [e.value for e in acc.Scalars("train_loss_epoch")]
        assert len(epochs) >= 1 and all(v > 0 for v in epochs), epochs
        val = acc.Scalars("val_loss")
        assert abs(min(e.value for e in val) - cpp_mse) < 1e-3, (val, cpp_mse)
        plugins = acc.PluginTagToContent("hparams")
        assert plugins, "no hparams summary"
        ran.append("tensorboard EventAccumulator: %d scalar tags, hparams plugin %s" % (len(tags), sorted(plugins)))

    for line in ran:
        print("OK", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
