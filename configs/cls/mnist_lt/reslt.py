# ResLT (Cui et al., TPAMI 2022) on the MNIST-LT recipe of this folder (softmax.py: network, cosine
# head with scale 16, optimiser, 8-epoch schedule), with three BatchNorm branches (head / medium /
# tail) on the last feature map and the loss beta * L_branches + (1 - beta) * L_fuse.
# beta = 0.5, the loss weight of an independent ResLT port. Groups come from the training counts
# with the dataset's report thresholds: with the exponential profile (IF 100, many > 100,
# few < 20) no class is tail and the tail branch is dropped (a warning says so); with the port's
# per-digit counts (reslt_pareto.py) all three groups are filled.
# Post-process IIF is scored on its logits too.
_base_ = ["./softmax.py"]
model = dict(reslt=dict(enabled=True, form="auto", gamma=0.0))
loss = dict(type="reslt", beta=0.5)
evaluate = dict(posthoc="always")
