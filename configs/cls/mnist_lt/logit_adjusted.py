# Logit-adjusted loss (Menon et al., ICLR 2021), tau = 1, on the same recipe.
_base_ = ["./softmax.py"]
loss = dict(type="logit_adjusted", tau=1.0)
