# TailCLIP's RN50 recipe on COCO-MLT as far as this trainer runs it (damilab/lm-clip@9983999
# configs/coco_mlt_rn50.py lines 26-64; the VOC recipe's values differ): balanced asymmetric loss
# (BAL: gamma_pos 0, gamma_neg 9.8, clip 0.05, label smoothing eps 0.1, class weights (N / n_c)^k
# with k 1.35, max-normalised), the occurrence sampler with the same power (sample_weights_power =
# class_weights_power = 1.35), AdamW lr 1e-7, betas (0.9, 0.98), weight decay 0.01, batch 8,
# 50 epochs, cosine. Their BAL keeps the focusing weights in the graph (detach_focal=False,
# asl_loss.py BalancedAsymmetricLossOptimized, as iif.balanced_asymmetric_loss's default).
# What we lack: CLIP's text tower and its contrastive loss (TailCLIP trains asl_mul * BAL +
# contrastive with asl_mul 6 on COCO; alone, the 6 only rescales the gradient, which AdamW undoes;
# with model.name=clip the same ratio is loss.contrastive_weight=1/6), and CLIP's image weights
# unless model.pretrained points at a local RN50 visual checkpoint.
_base_ = ["../_base_/coco_mlt.py"]
loss = dict(type="bal", k=1.35, gamma_pos=0.0, gamma_neg=9.8, clip=0.05, label_smoothing=0.1)
data = dict(sampler="occurrence", sampler_kwargs=dict(k=1.35))
optimizer = dict(type="adamw", lr=1e-7, betas=[0.9, 0.98], weight_decay=0.01)
schedule = dict(epochs=50, type="cosine", warmup_epochs=0)
