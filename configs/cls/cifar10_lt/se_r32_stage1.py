# Paper recipe, stage 1 (softmax CE), as the authors ran it (README: --lr 0.1 --milestones 360 380
# --lr-gamma 0.01 --epochs 400 --wd 0.0001 -b 16 on 4 GPUs --classif_norm cosine --mixup 0.2
# --auto-augment cifar): SE-ResNet-32 (SE r=4), squashed cosine classifier scale 16, 400 epochs,
# batch 64, lr 0.1 divided by 100 at epochs 360 and 380 (README --lr-gamma 0.01; the paper's text
# gives the steps, not the factor), weight decay 1e-4, mixup 0.2, AutoAugment + Cutout 16, and
# the first epoch's linear warm-up from lr/1000 (their train.py warms up epoch 0 of every stage).
# Paper top-1: softmax 78.6.
_base_ = ["../_base_/cifar10_lt.py"]
loss = dict(type="ce")
optimizer = dict(lr=0.1, momentum=0.9, weight_decay=1e-4)
schedule = dict(epochs=400, type="multistep", milestones=[360, 380], gamma=0.01,
                warmup_epochs=1, warmup_start_factor=1e-3, warmup_max_iters=1000)
