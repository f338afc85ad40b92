# Seesaw Loss baseline (Wang et al., "Seesaw Loss for Long-Tailed Instance Segmentation", CVPR 2021):
# mmdet's own SeesawLoss with its LVIS settings (p 0.8, q 2.0, cosine classifier NormedLinear scale 20,
# as mmdet's seesaw_loss/mask-rcnn_r50_fpn_seesaw-loss-normed-mask_sample1e-3-ms-2x_lvis-v1.py) on the
# softmax_mask_rcnn.py recipe (RFS 1e-3, normalised mask, 2x, NMS 0.5, mask threshold 0.5 as mmdet's
# Seesaw config; IIF's 0.3 / 0.4: --cfg-options model.test_cfg.rcnn.nms.iou_threshold=0.3
# model.test_cfg.rcnn.mask_thr_binary=0.4). SeesawLoss
# counts the classes itself during training (its cum_samples buffer): no hook.
#   python tools/train_det.py configs/lvis/seesaw_mask_rcnn.py --data-root /data/lvis_v1/
_base_ = './softmax_mask_rcnn.py'
model = dict(roi_head=dict(bbox_head=dict(
    cls_predictor_cfg=dict(type='NormedLinear', tempearture=20),
    loss_cls=dict(_delete_=True, type='SeesawLoss', p=0.8, q=2.0, num_classes=1203, loss_weight=1.0))))
custom_hooks = []
