# ResLT (Cui et al., TPAMI 2022), the official ImageNet-LT recipe (jiequancui/ResLT, ImageNetLT/
# ImageNetTrain_reslt.py and sh/X50.sh): ResNeXt-50 32x4d, the 1x1-conv branch form (2048 -> 3x2048
# channels + BN + ReLU, split in three), one shared linear classifier; 180 epochs, batch 256,
# SGD lr 0.1 (momentum 0.9, no Nesterov), weight decay 5e-4, 5 warm-up epochs then cosine;
# random-resized crop + flip + colour jitter 0.4; beta 0.99; test-time gamma 0.7 (classifier rows
# divided by ||W_c||^0.7, bias dropped). Groups from the training counts with the report
# thresholds (many > 100, few < 20), not the official index slices.
_base_ = ["../_base_/imagenet_lt.py"]
data = dict(batch_size=256, train_transform=dict(_delete_=True, image_size=224, random_resized_crop=True, hflip=True,
                                                 color_jitter=0.4))
model = dict(name="resnext50_32x4d", head="linear", reslt=dict(enabled=True, form="conv", gamma=0.7))
mixup = dict(alpha=0.0)
loss = dict(type="reslt", beta=0.99)
optimizer = dict(lr=0.1, momentum=0.9, nesterov=False, weight_decay=5e-4)
schedule = dict(epochs=180, type="cosine", warmup_epochs=5)
