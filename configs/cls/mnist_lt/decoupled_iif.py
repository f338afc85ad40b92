_base_ = ["./softmax.py"]
strategy = dict(type="decoupled", method="iif", load_from="work_dirs/mnist_lt/softmax/last.pth")
loss = dict(type="iif", variant="smooth")
optimizer = dict(lr=0.01)
schedule = dict(epochs=2, type="cosine", warmup_epochs=0)
