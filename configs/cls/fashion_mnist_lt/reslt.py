# ResLT (Cui et al., TPAMI 2022) on the Fashion-MNIST-LT default recipe: the softmax config's
# network, cosine head (scale 16), optimiser and 8-epoch schedule, with three BatchNorm branches
# (head / medium / tail) on the last feature map and the loss
# beta * L_branches + (1 - beta) * L_fuse. beta = 0.5, the loss weight of an independent ResLT port.
# Groups come from the training counts with the report thresholds (many > 100, few < 20): at
# IF 100 the 8 classes with 139..5000 images are head, 83 and 50 medium, and no class is tail, so
# the tail branch is dropped (a warning says so). Post-process IIF is scored on its logits too.
_base_ = ["./softmax.py"]
model = dict(reslt=dict(enabled=True, form="auto", gamma=0.0))
loss = dict(type="reslt", beta=0.5)
evaluate = dict(posthoc="always")
