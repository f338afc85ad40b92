# Decoupled smooth IIF on the stage-1 MobileNetV2 of ./mbv2_softmax.py, as the authors run the
# decoupled stage: backbone frozen with BatchNorm in train mode (batch statistics; the running
# ones move), the stage-1 training transform (random crop + flip), the classifier's weight retrained
# with IIF-CE (its learnable scale, if any, frozen), LR constant after the first epoch's warm-up
# from lr/1000. 5 epochs, as the authors' Places-LT decoupled stage (their README; the paper's text
# says 10); lr 1e-4 and weight decay 1e-4 as this folder's ./decoupled_iif.py (the authors'
# CIFAR-LT values). Each epoch is a forward pass of the frozen network in train mode: 0.33 s per
# batch of 64 at 96 px on one thread, ~1.1 min an epoch, ~6 min the stage with its evaluation.
# The features change every epoch here (batch statistics, random views), so the feature cache is
# refused; ./mbv2_decoupled_iif_cached.py is the variant it can serve exactly.
_base_ = ["./mbv2_softmax.py"]
strategy = dict(type="decoupled", method="iif", bn="train", freeze_scale=True,
                load_from="work_dirs/cifar10_lt_jpeg/mbv2_softmax/last.pth")
loss = dict(type="iif", variant="smooth")
optimizer = dict(lr=1e-4, weight_decay=1e-4)
schedule = dict(epochs=5, type="constant", milestones=[], warmup_epochs=1, warmup_start_factor=1e-3,
                warmup_max_iters=1000)
mixup = dict(alpha=0.0)
