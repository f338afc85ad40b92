# ResLT (Cui et al., TPAMI 2022), the official CIFAR recipe (jiequancui/ResLT, CIFAR/
# cifarTrain_reslt_cifar10.py and sh/CIFAR10): ResNet-32 with three BatchNorm branches on its last
# feature map, one shared pooling and one shared linear classifier; 200 epochs, batch 128, SGD
# (Nesterov, momentum 0.9) lr 0.1, weight decay 5e-4, 5 warm-up epochs (from lr/3; the official
# code steps once per epoch, here per iteration), LR x0.1 at epochs 160 and 180; random crop + flip
# only (no AutoAugment, no mixup); no test-time gamma.
# beta by imbalance factor, as the official runs (beta -> 1 as the imbalance grows):
#   IF 100: 0.998 (this file); IF 50: --cfg-options data.kwargs.imbalance_factor=50 loss.beta=0.998;
#   IF 10:  --cfg-options data.kwargs.imbalance_factor=10 loss.beta=0.96
# Groups: from the training counts with the report thresholds (many > 100, few < 20), one grouping
# for training and reporting. At IF 100 that is head 0-7, medium 8-9 and no tail class, so the tail
# branch is dropped (a warning says so). The official code instead slices classes by index (head
# {0, 1}, medium {2, 3}, tail {4..9}) at every imbalance factor (jiequancui/ResLT@9650d93
# CIFAR/cifarTrain_reslt_cifar10.py lines 150-151) and reports with other slices; the same split
# from counts (the report columns follow it): --cfg-options data.kwargs.shot_thresholds=[2000,1000]
# at IF 100, [2096,1357] at IF 50, [2997,2320] at IF 10.
# The official code also keeps the best test epoch; this reports the last one.
_base_ = ["../_base_/cifar10_lt.py"]
data = dict(batch_size=128, train_transform=dict(_delete_=True, crop_padding=4, hflip=True))
model = dict(name="resnet32", head="linear", reslt=dict(enabled=True, form="bn", gamma=0.0))
mixup = dict(alpha=0.0)
loss = dict(type="reslt", beta=0.998)
optimizer = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
schedule = dict(epochs=200, type="multistep", milestones=[160, 180], gamma=0.1, warmup_epochs=5,
                warmup_start_factor=1 / 3)
