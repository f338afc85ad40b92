# ASL (Ridnik et al., ICCV 2021) with its defaults: gamma_neg 4, gamma_pos 0, probability margin 0.05.
_base_ = ["./bce.py"]
loss = dict(_delete_=True, type="asl", gamma_pos=0.0, gamma_neg=4.0, clip=0.05)
