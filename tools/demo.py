"""A one-minute tour of the core library: IIF weights of every variant, and post-process IIF on a toy problem.

    python tools/demo.py [--imbalance 100] [--seed 0]

Part 1 prints the weights of each variant for the CIFAR-10-LT count profile.
Part 2 trains a linear softmax classifier on long-tailed Gaussian blobs (plain CE) and
evaluates it on a balanced test set as it is and with each IIF variant applied to the
logits at inference only. Everything is generated here; nothing is downloaded.
"""
from __future__ import annotations

import argparse

import torch

import iif


def exp_counts(n_max: int, num_classes: int, imbalance: float) -> list[int]:
    return [int(n_max * (1.0 / imbalance) ** (i / (num_classes - 1.0))) for i in range(num_classes)]


def blobs(counts: list[int], means: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    xs = [means[c] + torch.randn(n, means.shape[1], generator=g) * 1.2 for c, n in enumerate(counts)]
    ys = [torch.full((n,), c) for c, n in enumerate(counts)]
    return torch.cat(xs), torch.cat(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imbalance", type=float, default=100.0, help="head/tail count ratio (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.imbalance < 1:
        ap.error(f"--imbalance must be >= 1, got {args.imbalance}")

    counts = exp_counts(5000, 10, args.imbalance)
    print(f"Part 1: IIF weights for CIFAR-10-LT-style counts (imbalance {args.imbalance:g}, K = {sum(counts)})")
    print(f"{'class':>5} {'count':>6} " + " ".join(f"{v:>7}" for v in iif.VARIANTS))
    table = {v: iif.compute_weights(counts, v) for v in iif.VARIANTS}
    for c, n in enumerate(counts):
        print(f"{c:>5} {n:>6} " + " ".join(f"{table[v][c].item():7.3f}" for v in iif.VARIANTS))

    g = torch.Generator().manual_seed(args.seed)
    num_classes, dim = 10, 16
    means = torch.randn(num_classes, dim, generator=g) * 1.5
    train_counts = exp_counts(500, num_classes, args.imbalance)
    x, y = blobs(train_counts, means, g)
    xt, yt = blobs([200] * num_classes, means, g)

    torch.manual_seed(args.seed)
    model = torch.nn.Linear(dim, num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):  # full-batch plain softmax CE
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    with torch.no_grad():
        logits = model(xt)
    print(f"\nPart 2: linear classifier on long-tailed Gaussian blobs ({len(y)} train, {len(yt)} balanced test);"
          f"\ntrained with plain CE, IIF applied to the logits at inference only (post-process).")
    print(f"{'method':<20} {'top-1':>6} {'many':>6} {'medium':>6} {'few':>6}")
    rows = [("softmax", logits)]
    rows += [(f"post-process {v}", iif.adjust_logits(logits, table_v))
             for v, table_v in ((v, iif.compute_weights(train_counts, v)) for v in iif.VARIANTS)]
    rows.append(("logit adjust t=1", iif.logit_adjustment(logits, train_counts, 1.0)))
    for name, z in rows:
        s = iif.shot_accuracy(iif.per_class_accuracy(z, yt, num_classes), train_counts)
        print(f"{name:<20} {s.overall:6.1f} {s.many:6.1f} {s.medium:6.1f} {s.few:6.1f}")


if __name__ == "__main__":
    main()
