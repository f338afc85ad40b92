# Stage 2 of the default: freeze the softmax network, retrain only its classifier with
# IIF cross-entropy (smooth, the paper's best decoupled variant).
_base_ = ["./softmax.py"]
strategy = dict(type="decoupled", method="iif", load_from="work_dirs/fashion_mnist_lt/softmax/last.pth")
loss = dict(type="iif", variant="smooth")
optimizer = dict(lr=0.01)
schedule = dict(epochs=2, type="cosine", warmup_epochs=0)
