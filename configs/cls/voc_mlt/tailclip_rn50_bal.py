# TailCLIP's RN50 recipe on VOC-MLT as far as this trainer runs it: balanced asymmetric loss (BAL:
# gamma_pos 0, gamma_neg 12, clip 0.05, label smoothing eps 0.01, class weights (N / n_c)^k with
# k 0.7, max-normalised), the occurrence sampler with the same power (sample_weights_power =
# class_weights_power in their code), AdamW lr 2e-6, betas (0.9, 0.98), weight decay 0.01, batch 8,
# 50 epochs, cosine (damilab/lm-clip@9983999 configs/voc_mlt_rn50.py lines 26-64). Focusing weights
# in the graph (loss.detach_focal=False, the default), as their BalancedAsymmetricLossOptimized
# (asl_loss.py line 199). What we lack: CLIP's text tower and its contrastive loss (TailCLIP trains
# 0.2 * BAL + contrastive; alone, the 0.2 only rescales the gradient, which AdamW undoes), and CLIP's
# image weights unless model.pretrained points at a local RN50 visual checkpoint.
_base_ = ["../_base_/voc_mlt.py"]
loss = dict(type="bal", k=0.7, gamma_pos=0.0, gamma_neg=12.0, clip=0.05, label_smoothing=0.01)
data = dict(sampler="occurrence", sampler_kwargs=dict(k=0.7))
optimizer = dict(type="adamw", lr=2e-6, betas=[0.9, 0.98], weight_decay=0.01)
schedule = dict(epochs=50, type="cosine", warmup_epochs=0)
