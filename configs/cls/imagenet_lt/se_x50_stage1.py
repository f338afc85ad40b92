# As se_r50_stage1 with SE-ResNeXt-50 32x4d.
_base_ = ["./se_r50_stage1.py"]
model = dict(name="se_resnext50_32x4d")
