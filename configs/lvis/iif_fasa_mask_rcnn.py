# IIF + FASA Mask R-CNN, R50-FPN, LVIS v1: the paper's full recipe (not ours: 26.3 mask AP, 18.6 APr,
# 25.2 APc, 30.8 APf, 25.8 box AP; the authors' README row IIF_r50, kostas1515/iif@747b041
# instance_segmentation/README.md lines 55-62): iif_mask_rcnn.py
# (base10 IOF weights, repeat-factor sampling 1e-3, cosine box classifier, normalised mask
# predictor, NMS IoU 0.3, mask threshold 0.4, 2x schedule, batch 16) plus FASA feature
# augmentation (mmdet_ext/fasa.py; the authors' fasa_iof_base10_r50_rfs_cos_norm_4x4_2x).
# FASA's defaults (FASA code fasa_cfg): momentum 0.1, virtual-loss weight 0.1, initial rates
# from inverse instance counts, rates x1.1 / x0.9 per epoch from the val-set loss, virtual
# features from the second epoch. FASAHook runs one loss pass over LVIS val (training
# pipeline) after each epoch, as FASA's val workflow did; FASAHook(adapt=False) skips it.
#   mim train mmdet configs/lvis/iif_fasa_mask_rcnn.py --launcher pytorch --gpus 8
#   python tools/train_det.py configs/lvis/iif_fasa_mask_rcnn.py --data-root /data/lvis_v1/
_base_ = './iif_mask_rcnn.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            type='FASAShared2FCBBoxHead',
            fasa_cfg=dict(momentum=0.1, loss_weight=0.1, rate_power=1.0, rate_scale=1.0, rate_up=1.1,
                          rate_down=0.9, start_epoch=1, group_by='affinity'))))
custom_hooks = [dict(type='IIFWeightsHook'), dict(type='FASAHook')]
