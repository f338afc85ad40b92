"""What the command-line tests share: paths, smoke options and loading a tool as a module."""
import contextlib
import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST = os.path.join(REPO, "configs", "cls", "fashion_mnist_lt")
SOFTMAX = os.path.join(FMNIST, "softmax.py")
# Fake images of the dataset's shape, tiny batches, one iteration of cnn3: every code path, fast.
SMOKE = ["data.fake=True", "data.fake_size=16", "data.batch_size=4", "data.test_batch_size=8", "train.max_iters=1",
         "schedule.epochs=1", "device=cpu", "model.name=cnn3"]


def tool(name: str):
    """``tools/<name>.py`` as a module (its ``main(argv)`` returns the exit code)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def torchrun_train_cls(config: str, options: dict, nproc: int = 2):
    """``tools/train_cls.py`` under torchrun with ``nproc`` CPU processes (gloo) on a free port;
    asserts it succeeded and returns the finished process."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(port),
           os.path.join(REPO, "tools", "train_cls.py"), "--config", config,
           "--cfg-options"] + [f"{k}={v}" for k, v in options.items()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@contextlib.contextmanager
def interrupted_after_first_save(monkeypatch):
    """Inside the block, ``Trainer.fit`` stops with KeyboardInterrupt right after its first checkpoint
    (a run killed between epochs)."""
    from iif.engine import Trainer

    original = Trainer._save

    def save_then_die(self, epoch):
        original(self, epoch)
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save", save_then_die)
    try:
        yield
    finally:
        monkeypatch.setattr(Trainer, "_save", original)
