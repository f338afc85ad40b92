# MNIST-LT (exponential profile, imbalance factor 100), softmax stage 1.
_base_ = ["../_base_/mnist_lt.py"]
model = dict(name="se_resnet32", head="cosine", scale=16.0)
loss = dict(type="ce")
optimizer = dict(lr=0.1, momentum=0.9, weight_decay=5e-4)
schedule = dict(epochs=8, type="cosine", warmup_epochs=1)
