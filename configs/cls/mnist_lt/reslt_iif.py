# ResLT + IIF (in neither paper): the ResLT model and loss (beta 0.5) with every cross-entropy
# turned into smooth IIF-CE, CE(w * z, y): the fused term and the branch terms (iif_on="both";
# "fused" or "branches" weight one of them). With IIF on the fused logits the model predicts with
# w * z, as an IIF-CE model does; no post-hoc rows (they would adjust twice).
_base_ = ["./reslt.py"]
loss = dict(iif_variant="smooth", iif_on="both")
evaluate = dict(posthoc="auto")
