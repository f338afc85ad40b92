# Paper top-1 (decoupled smooth IIF, SE-ResNeXt-50): 56.2.
_base_ = ["./se_r50_decoupled_iif.py"]
model = dict(name="se_resnext50_32x4d")
strategy = dict(load_from="work_dirs/imagenet_lt/se_x50_stage1/last.pth")
