# IIF Hybrid Task Cascade without the semantic branch, R50-FPN, LVIS v1: the cascade IIF recipe
# with HTC's interleaved box/mask stages and mask information flow (as mmdet's
# htc-without-semantic config), normalised mask predictors.
_base_ = './iif_cascade_mask_rcnn.py'
model = dict(
    type='HybridTaskCascade',
    roi_head=dict(
        type='HybridTaskCascadeRoIHead',
        interleaved=True,
        mask_info_flow=True,
        mask_head=[
            dict(type='HTCMaskHead', with_conv_res=i > 0, num_convs=4, in_channels=256, conv_out_channels=256,
                 num_classes=1203, predictor_cfg=dict(type='NormedConv2d', tempearture=20),
                 loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))
            for i in range(3)
        ]))
