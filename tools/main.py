"""The main job: Fashion-MNIST-LT softmax training, post-process IIF and decoupled IIF in one table.

    python tools/main.py                      # the README's first command runs this
    python tools/main.py --cfg-options schedule.epochs=2   # quicker (applies to both stages)
    python tools/main.py --check-readme       # the job on a short schedule against the README's block

Stage 1 trains configs/cls/fashion_mnist_lt/softmax.py; stage 2 retrains its classifier with
IIF-CE (decoupled_iif.py). Re-running continues or re-evaluates finished stages (--fresh to retrain).

The numbers depend on the torch thread count (the order of float sums): ``train.threads`` unset
uses torch's default, one per core. The README's table was measured on 2 cores, i.e. with 2
threads; elsewhere ``--cfg-options train.threads=2`` gives the same arithmetic.

``--check-readme`` runs both stages on :data:`CHECK_OPTIONS` (one epoch cut to 20 iterations,
2 threads, the README table's count) in a temporary directory and compares the table with the
README block between :data:`BEGIN` and :data:`END`: exit 0 if equal, 1 with a diff if not
(``--update`` rewrites the block). ``tests/test_fidelity.py`` runs it in CI, so a change to what the default job computes
fails until the README is re-measured.
"""
from __future__ import annotations

import argparse
import difflib
import logging
import os
import shutil
import sys
import tempfile

from iif.engine.config import CfgOptionsAction

from iif.engine import load_config
from iif.engine.cli import add_common_flags, cli_entry
from iif.engine.pipeline import run_two_stage

STAGE1 = "configs/cls/fashion_mnist_lt/softmax.py"
STAGE2 = "configs/cls/fashion_mnist_lt/decoupled_iif.py"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The short schedule of --check-readme, for both stages: the default job's code path (data,
#: model, trainer, evaluation, table) on one epoch cut to 20 iterations (enough to move every row
#: off chance), with the README table's 2 threads. About a minute on 2 cores, most of it evaluation.
CHECK_OPTIONS = {"schedule.epochs": 1, "train.max_iters": 20, "train.threads": 2}
BEGIN = "<!-- main-check:begin -->"
END = "<!-- main-check:end -->"


def readme_block(text: str) -> str:
    """The table between :data:`BEGIN` and :data:`END` (inside a code fence), without the fence."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"the README needs exactly one block between {BEGIN!r} and {END!r}")
    body = text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip("\n")
    lines = body.splitlines()
    if len(lines) < 2 or not lines[0].startswith("```") or lines[-1] != "```":
        raise ValueError(f"the README block between {BEGIN!r} and {END!r} must be one ``` code fence")
    return "\n".join(lines[1:-1])


def replace_block(text: str, table: str) -> str:
    """``text`` with the block's table replaced by ``table``."""
    readme_block(text)  # the same checks
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n```\n{table}\n```\n{END}{tail}"


def check_table(stage1: str = STAGE1, stage2: str = STAGE2) -> str:
    """Both stages on :data:`CHECK_OPTIONS` in a temporary directory; the table they print."""
    configs = [c if os.path.isabs(c) else os.path.join(REPO, c) for c in (stage1, stage2)]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="iif-main-check-") as tmp:
        os.chdir(tmp)  # the configs' default work dirs (work_dirs/...) land in tmp
        try:
            _, table = run_two_stage(*configs, dict(CHECK_OPTIONS), resume=False)
        finally:
            os.chdir(cwd)
    return table


@cli_entry
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage1", default=STAGE1)
    ap.add_argument("--stage2", default=STAGE2)
    ap.add_argument("--cfg-options", nargs="+", action=CfgOptionsAction, default={}, metavar="KEY=VALUE")
    ap.add_argument("--fresh", "--overwrite", action="store_true", dest="fresh",
                    help="delete earlier outputs of these stages and retrain")
    ap.add_argument("--check-readme", action="store_true",
                    help="run the job on the short check schedule and compare with the README's block")
    ap.add_argument("--update", action="store_true", help="with --check-readme: rewrite the README's block")
    ap.add_argument("--readme", default=os.path.join(REPO, "README.md"), help="the README of --check-readme")
    add_common_flags(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    if args.check_readme:
        if args.cfg_options or args.fresh:
            raise ValueError("--check-readme runs the default job on its own schedule: no --cfg-options / --fresh")
        with open(args.readme, encoding="utf-8") as f:
            text = f.read()
        expected = readme_block(text)
        table = check_table(args.stage1, args.stage2)
        print("\n" + table)
        if table == expected:
            print(f"\n{args.readme}: the main-check block matches")
            return 0
        if args.update:
            with open(args.readme, "w", encoding="utf-8") as f:
                f.write(replace_block(text, table))
            print(f"\n{args.readme}: main-check block updated; re-measure the main table with `make main` too")
            return 0
        diff = difflib.unified_diff(expected.splitlines(), table.splitlines(), "README", "this run", lineterm="")
        print(f"\n{args.readme}: the main-check block differs from this run (the default job's numbers "
              f"changed: re-run `make main`, update the README's table, then `tools/main.py --check-readme "
              f"--update`):\n" + "\n".join(diff))
        return 1
    if args.update:
        raise ValueError("--update goes with --check-readme")
    if args.fresh:
        for cfg in (args.stage1, args.stage2):
            shutil.rmtree(load_config(cfg, args.cfg_options)["work_dir"], ignore_errors=True)
    _, table = run_two_stage(args.stage1, args.stage2, args.cfg_options)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
