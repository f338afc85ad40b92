# Sigmoid focal loss (Lin et al., ICCV 2017), gamma 2, no alpha, on the shared toy_mlt recipe.
_base_ = ["./bce.py"]
loss = dict(_delete_=True, type="sigmoid_focal", gamma=2.0)
