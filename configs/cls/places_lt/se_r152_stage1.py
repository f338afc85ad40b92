# Paper recipe, stage 1: SE-ResNet-152 (r=16) initialised from ImageNet weights you provide
# (model.pretrained = a local checkpoint; nothing is downloaded), only the last block and the
# classifier fine-tuned, cosine classifier with a learnable scale, 30 epochs, batch 256,
# lr 0.1 cosine, mixup 0.2, RandAugment. Paper top-1: softmax 31.1.
_base_ = ["../_base_/places_lt.py"]
model = dict(name="se_resnet152", head="cosine_learnable", pretrained=None, trainable="last_block")
loss = dict(type="ce")
optimizer = dict(lr=0.1, momentum=0.9, weight_decay=5e-4)
schedule = dict(epochs=30, type="cosine")
