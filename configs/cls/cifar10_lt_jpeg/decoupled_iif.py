# Decoupled smooth IIF on the stage-1 model of ./softmax.py: the recipe of
# ../cifar10_lt/se_r32_decoupled_iif.py (as the authors ran it: 20 epochs, lr 1e-4, weight decay
# 1e-4, no mixup, BatchNorm in train mode, learnable scale (if any) frozen, constant LR after the
# first epoch's warm-up from lr/1000), restated here because this folder's data settings come
# from ./softmax.py (tests/test_fidelity.py checks the two stay equal).
_base_ = ["./softmax.py"]
strategy = dict(type="decoupled", method="iif", bn="train", freeze_scale=True,
                load_from="work_dirs/cifar10_lt_jpeg/softmax/last.pth")
loss = dict(type="iif", variant="smooth")
optimizer = dict(lr=1e-4, weight_decay=1e-4)
schedule = dict(epochs=20, type="constant", milestones=[], warmup_epochs=1, warmup_start_factor=1e-3,
                warmup_max_iters=1000)
mixup = dict(alpha=0.0)
