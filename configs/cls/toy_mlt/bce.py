# The offline multi-label set's shared CPU recipe, plain BCE: SE-ResNet-32 (the paper's
# CIFAR network) at 32 x 32 with a linear classifier, AdamW lr 1e-3 (weight decay 1e-4), batch 32,
# 20 epochs, cosine after a 1-epoch warm-up, random sampling. About 9 s an epoch, 3 min a run on
# one CPU thread (train.threads=1). Every toy_mlt config inherits this one and changes only the
# loss (and BAL the sampler). AdamW because the losses differ in scale (BCE / focal / ASL / BAL /
# DB-Focal, mean over N x C elements): its steps do not depend on it, SGD's would need an LR per
# loss (with SGD lr 0.1 mean-reduced BCE underfits: 29 training mAP after 15 epochs, measured).
# Post-process IIF (every variant, K = 1,142 training images) is scored on this model's logits.
_base_ = ["../_base_/toy_mlt.py"]
model = dict(name="se_resnet32", head="linear")
loss = dict(type="bce")
optimizer = dict(type="adamw", lr=1e-3, weight_decay=1e-4)
schedule = dict(epochs=20, type="cosine", warmup_epochs=1)
