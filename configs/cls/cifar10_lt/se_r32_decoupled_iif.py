# Paper recipe, decoupled stage: classifier retrained with smooth IIF-CE, 20 epochs, lr 1e-4.
# Paper top-1 (decoupled smooth IIF): 84.6.
_base_ = ["./se_r32_stage1.py"]
strategy = dict(type="decoupled", method="iif", load_from="work_dirs/cifar10_lt/se_r32_stage1/last.pth")
loss = dict(type="iif", variant="smooth")
optimizer = dict(lr=1e-4)
schedule = dict(epochs=20, type="cosine", milestones=[])
