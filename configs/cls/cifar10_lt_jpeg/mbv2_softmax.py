# The pretrained regime on real images: torchvision's ImageNet MobileNetV2 fine-tuned
# on CIFAR-10-LT (IF 100, 12,406 images; the lossy JPEG copy read by folder_lt as in ./softmax.py),
# stage 1 with plain softmax CE. The shape of the paper's Places-LT recipe (an ImageNet network,
# every layer fine-tuned, a few epochs of cosine LR, a cosine classifier), sized for one CPU core:
# - input: the 32x32 images resized to 96x96 (MobileNetV2's stride 32 leaves a 3x3 map), random
#   crop with 12 px padding (CIFAR's 4 px at this scale) + horizontal flip; ImageNet mean / std, as
#   the weights expect (stats="imagenet"). No AutoAugment / Cutout / mixup: four epochs of
#   fine-tuning are too few for heavy regularisation to pay.
# - model: model.kwargs.pretrained="imagenet" is ~/.cache/iif/weights/mobilenet_v2-b0353104.pth
#   (`python -m iif.data.fetch_weights mobilenet_v2`; nothing is downloaded); 1280 pooled features;
#   the paper's cosine classifier (scale 16, the authors' squashed feature norm); BatchNorm trains.
# - 4 epochs, batch 64, SGD lr 0.01 (momentum 0.9, weight decay 4e-5, MobileNetV2's own), cosine
#   to 0 after a 50-iteration warm-up from lr/1000.
# Time (one thread, measured while two other training runs shared the machine's 2 cores): a
# training step of 64 images takes 0.86-1.1 s at 96 px (1.2-1.8 s at 112 px, 2.3 s at 128 px), so
# 194 iterations make ~3 min an epoch: ~12 min of training plus ~1 min of evaluation
# (train.threads=1). Label every number "CIFAR-10 (lossy JPEG copy)".
#   python tools/train_cls.py --config configs/cls/cifar10_lt_jpeg/mbv2_softmax.py --cfg-options train.threads=1
# The whole table (every mbv2_* config of this folder, seeds 0 1 2):
#   python tools/reproduce.py --datasets cifar10_lt_jpeg --config-prefix mbv2_ --seeds 0 1 2 --threads 1 \
#       --work-root work_dirs/reproduce_mbv2 --methods softmax iif_e2e balanced_softmax posthoc_la \
#       posthoc_iif_smooth posthoc_iif_val decoupled_iif crt lws softmax_linear tau_norm
_base_ = ["./softmax.py"]
model = dict(name="mobilenet_v2", head="cosine", scale=16.0, feature_norm="squash", in_chans=3, trainable="all",
             kwargs=dict(pretrained="imagenet"))
data = dict(
    batch_size=64,
    test_batch_size=256,
    num_workers=0,  # a resize of a 32x32 image costs ~0.2 ms: workers would only compete for the core
    train_transform=dict(_delete_=True, image_size=96, resize=96, crop_padding=12, hflip=True, stats="imagenet"),
    test_transform=dict(_delete_=True, image_size=96, resize=96, stats="imagenet"),
)
loss = dict(type="ce")
optimizer = dict(lr=0.01, momentum=0.9, weight_decay=4e-5)
schedule = dict(epochs=4, type="cosine", milestones=[], warmup_epochs=1, warmup_start_factor=1e-3,
                warmup_max_iters=50)
mixup = dict(alpha=0.0)
