# ResLT with the beta the official code would choose. Its runs tie beta to the imbalance: CIFAR-10-LT
# 0.998 / 0.998 / 0.96 and CIFAR-100-LT 0.995 / 0.99 / 0.72 at IF 100 / 50 / 10 (ImageNet-LT 0.99):
# beta grows towards 1 as the imbalance grows and is lower with more classes. MNIST-LT is a 10-class
# set at IF 100 (exponential profile) or 211 (the port's counts, 5918 / 28): both at least as
# imbalanced as CIFAR-10-LT IF 100, so beta = 0.998.
_base_ = ["./reslt.py"]
loss = dict(beta=0.998)
