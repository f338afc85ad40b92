# The embedded default (README's first command), stage 1: plain softmax cross-entropy.
# Post-process IIF of every variant is scored on its logits at the end of the run.
_base_ = ["../_base_/fashion_mnist_lt.py"]
model = dict(name="se_resnet32", head="cosine", scale=16.0)  # the paper's CIFAR recipe network
loss = dict(type="ce")
optimizer = dict(lr=0.1, momentum=0.9, weight_decay=5e-4)
schedule = dict(epochs=8, type="cosine", warmup_epochs=1)
