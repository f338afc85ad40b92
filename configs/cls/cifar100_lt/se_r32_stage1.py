# Paper recipe, stage 1 (softmax CE): SE-ResNet-32 (SE r=4), cosine classifier scale 16,
# 400 epochs, batch 64, lr 0.1 with steps at 360/380, weight decay 1e-4, mixup 0.2,
# AutoAugment (CIFAR policy). Paper top-1: softmax 43.0.
_base_ = ["../_base_/cifar100_lt.py"]
loss = dict(type="ce")
optimizer = dict(lr=0.1, momentum=0.9, weight_decay=1e-4)
schedule = dict(epochs=400, type="multistep", milestones=[360, 380], gamma=0.1)
