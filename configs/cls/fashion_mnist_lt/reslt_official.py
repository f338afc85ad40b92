# ResLT with the beta the official code would choose. Its runs tie beta to the imbalance: CIFAR-10-LT
# 0.998 / 0.998 / 0.96 and CIFAR-100-LT 0.995 / 0.99 / 0.72 at IF 100 / 50 / 10 (ImageNet-LT 0.99):
# beta grows towards 1 as the imbalance grows and is lower with more classes. Fashion-MNIST-LT is
# a 10-class set at IF 100, the setting of CIFAR-10-LT IF 100: beta = 0.998.
_base_ = ["./reslt.py"]
loss = dict(beta=0.998)
