# Paper recipe, decoupled stage: 10 epochs, lr 1e-5, smooth IIF-CE. Paper top-1: 40.2.
_base_ = ["./se_r152_stage1.py"]
strategy = dict(type="decoupled", method="iif", load_from="work_dirs/places_lt/se_r152_stage1/last.pth")
loss = dict(type="iif", variant="smooth")
optimizer = dict(lr=1e-5)
schedule = dict(epochs=10)
