# The offline multi-label set's shared CPU recipe (issue 12), plain BCE: cnn3 at 64 x 64 with a
# linear classifier, SGD lr 0.1 (momentum 0.9, weight decay 5e-4), batch 32, 40 epochs, cosine
# after a 1-epoch warm-up; random sampling. About 5 s an epoch on one CPU thread (train.threads=1).
# Every toy_mlt config below inherits this one and changes only the loss (and the sampler).
# Post-process IIF (every variant, K = 1,142 training images) is scored on this model's logits.
_base_ = ["../_base_/toy_mlt.py"]
model = dict(name="cnn3", head="linear")
loss = dict(type="bce")
optimizer = dict(lr=0.1, momentum=0.9, weight_decay=5e-4)
schedule = dict(epochs=40, type="cosine", warmup_epochs=1)
