# Paper recipe, decoupled stage: 5 epochs, lr 2e-5, smooth IIF-CE. Paper top-1: 55.8.
_base_ = ["./se_r50_stage1.py"]
strategy = dict(type="decoupled", method="iif", load_from="work_dirs/imagenet_lt/se_r50_stage1/last.pth")
loss = dict(type="iif", variant="smooth")
optimizer = dict(lr=2e-5)
schedule = dict(epochs=5)
