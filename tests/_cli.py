"""What the command-line tests share: paths, smoke options and loading a tool as a module."""
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
