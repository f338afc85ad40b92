# Paper recipe, stage 1: SE-ResNet-50 (r=16), cosine classifier scale 16, 200 epochs, batch 256,
# lr 0.2 cosine, mixup 0.2, AutoAugment (ImageNet policy). Weight decay is not stated in the
# paper; 5e-4 as in MiSLAS's ImageNet-LT recipe. Paper top-1: softmax 52.2.
_base_ = ["../_base_/imagenet_lt.py"]
model = dict(name="se_resnet50")
loss = dict(type="ce")
optimizer = dict(lr=0.2, momentum=0.9, weight_decay=5e-4)
schedule = dict(epochs=200, type="cosine")
data = dict(eval_split="test")
