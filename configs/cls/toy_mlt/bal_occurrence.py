# BAL, TailCLIP's balanced asymmetric loss, with its VOC settings (gamma_pos 0, gamma_neg 12,
# clip 0.05, label smoothing 0.01, class weights (N / n_c)^0.7 normalised to a maximum of 1) and
# the occurrence sampler with the same power 0.7, on the shared toy_mlt recipe. Focusing weights in
# the graph (loss.detach_focal=False, the default), as TailCLIP's BalancedAsymmetricLossOptimized.
_base_ = ["./bce.py"]
loss = dict(_delete_=True, type="bal", k=0.7, gamma_pos=0.0, gamma_neg=12.0, clip=0.05, label_smoothing=0.01)
data = dict(sampler="occurrence", sampler_kwargs=dict(k=0.7))
