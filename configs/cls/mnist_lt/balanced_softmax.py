# Balanced Softmax (Ren et al., NeurIPS 2020) baseline on the same recipe.
_base_ = ["./softmax.py"]
loss = dict(type="balanced_softmax")
