# ResLT, the official CIFAR recipe (see ../cifar10_lt/reslt_r32.py) on CIFAR-100-LT.
# beta by imbalance factor, as the official runs: IF 100: 0.995 (this file);
#   IF 50: --cfg-options data.kwargs.imbalance_factor=50 loss.beta=0.99;
#   IF 10: --cfg-options data.kwargs.imbalance_factor=10 loss.beta=0.72
# Groups from training counts (many > 100, few < 20): at IF 100 all three groups have classes.
_base_ = ["../cifar10_lt/reslt_r32.py"]
data = dict(name="cifar100_lt")
loss = dict(beta=0.995)
