# TailCLIP with CLIP's two towers (open_clip): the RN50 image tower embeds the image, the text
# tower embeds one prompt per class ("a photo of a {class}."), logits = s * cos (s = CLIP's learned
# temperature); trained with BAL (tailclip_rn50_bal.py's settings, occurrence sampler, AdamW lr
# 2e-6, 50 epochs) plus a text-contrastive term: each image against the text of its labels (the sum
# of its classes' prompt embeddings), the batch's other images as negatives. TailCLIP weighs them
# 0.2 * BAL + contrastive; under AdamW only the ratio matters, hence contrastive_weight=5.
# The CLIP weights come from a local file you give; nothing is downloaded:
#   --cfg-options model.kwargs.pretrained=/path/to/RN50.pt
# (OpenAI's RN50.pt, a TorchScript archive, is read as is; with it keep arch="RN50-quickgelu", the
# activation OpenAI trained with; an open_clip RN50 state dict of another source may need arch="RN50").
# Without it the towers start from random weights (smoke runs only). Needs `pip install open_clip_torch`.
_base_ = ["./tailclip_rn50_bal.py"]
# VOC's classes in index order, spelt as words for the prompts (the lists say "diningtable" etc.)
model = dict(name="clip", kwargs=dict(
    arch="RN50-quickgelu", template="a photo of a {}.",
    class_names=["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
                 "dining table", "dog", "horse", "motorbike", "person", "potted plant", "sheep", "sofa", "train",
                 "tv monitor"]))
loss = dict(contrastive_weight=5.0)
# CLIP's own input normalisation, not ImageNet's
data = dict(train_transform=dict(mean=[0.48145466, 0.4578275, 0.40821073], std=[0.26862954, 0.26130258, 0.27577711]),
            test_transform=dict(mean=[0.48145466, 0.4578275, 0.40821073], std=[0.26862954, 0.26130258, 0.27577711]))
