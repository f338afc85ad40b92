# Paper recipe, stage 1, as the authors ran it (README: -b 64 on 4 GPUs --lr 0.2 --epochs 200
# --cosine_scheduler --classif_norm cosine --mixup 0.2 --auto-augment imagenet, weight decay their
# default 1e-4): SE-ResNet-50 (r=16), squashed cosine classifier scale 16, 200 epochs, batch 256,
# lr 0.2 cosine, weight decay 1e-4, mixup 0.2, AutoAugment (ImageNet policy), first epoch warmed up
# linearly from lr/1000 (at most 1000 iterations). Paper top-1: softmax 52.2.
_base_ = ["../_base_/imagenet_lt.py"]
model = dict(name="se_resnet50")
loss = dict(type="ce")
optimizer = dict(lr=0.2, momentum=0.9, weight_decay=1e-4)
schedule = dict(epochs=200, type="cosine", warmup_epochs=1, warmup_start_factor=1e-3, warmup_max_iters=1000)
data = dict(eval_split="test")
