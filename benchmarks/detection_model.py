"""A small RetinaNet, written from the published algorithm the way torchvision writes it.

torchvision's wheels do not import beside torch 2.13 on this stack (its compiled ops are built for
another torch), so the detection pipeline whose data-dependent branches stop ``torch.export`` is
rebuilt here, function for function, from torchvision's RetinaNet (Lin et al., "Focal Loss for
Dense Object Detection", 2017): anchors per FPN level (3 sizes x 3 aspect ratios), a classification
and a box-regression head, ``BoxCoder.decode_single``, ``clip_boxes_to_image``, the score
threshold, ``det_utils._topk_min``, and ``batched_nms`` with both of torchvision's data-dependent
branches (``if boxes.numel() > 4000`` and ``if boxes.numel() == 0``). The backbone is a small
convolution stack with an FPN instead of a ResNet-50; torchvision's NMS kernel is C++, here it is
greedy NMS in torch. Random initialisation (the classification prior of the paper, 0.01), no
pretrained weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# -- torchvision.ops.boxes ---------------------------------------------------------------------


def box_area(boxes: Tensor) -> Tensor:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    area1, area2 = box_area(boxes1), box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    return inter / (area1[:, None] + area2 - inter)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS (torchvision.ops.nms's algorithm): indices of kept boxes, by decreasing score."""
    order = scores.argsort(descending=True)
    iou = box_iou(boxes[order], boxes[order])
    suppressed = torch.zeros(order.numel(), dtype=torch.bool)
    keep = []
    for i in range(order.numel()):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return order[torch.tensor(keep, dtype=torch.int64)]


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    # torchvision: the vanilla per-class loop is faster on CPU for many boxes
    if boxes.numel() > (4000 if boxes.device.type == "cpu" else 20000):
        return _batched_nms_vanilla(boxes, scores, idxs, iou_threshold)
    return _batched_nms_coordinate_trick(boxes, scores, idxs, iou_threshold)


def _batched_nms_coordinate_trick(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    max_coordinate = boxes.max()
    offsets = idxs.to(boxes) * (max_coordinate + torch.tensor(1).to(boxes))
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def _batched_nms_vanilla(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    keep_mask = torch.zeros_like(scores, dtype=torch.bool)
    for class_id in torch.unique(idxs):
        curr_indices = torch.where(idxs == class_id)[0]
        curr_keep_indices = nms(boxes[curr_indices], scores[curr_indices], iou_threshold)
        keep_mask[curr_indices[curr_keep_indices]] = True
    keep_indices = torch.where(keep_mask)[0]
    return keep_indices[scores[keep_indices].sort(descending=True)[1]]


def clip_boxes_to_image(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    dim = boxes.dim()
    boxes_x, boxes_y = boxes[..., 0::2], boxes[..., 1::2]
    height, width = size
    boxes_x = boxes_x.clamp(min=0, max=width)
    boxes_y = boxes_y.clamp(min=0, max=height)
    return torch.stack((boxes_x, boxes_y), dim=dim).reshape(boxes.shape)


# -- torchvision.models.detection._utils --------------------------------------------------------


def _topk_min(input: Tensor, orig_kval: int, axis: int) -> int:
    return min(orig_kval, input.size(axis))


class BoxCoder:
    def __init__(self, weights: tuple[float, float, float, float], bbox_xform_clip: float = math.log(1000.0 / 16)):
        self.weights = weights
        self.bbox_xform_clip = bbox_xform_clip

    def decode_single(self, rel_codes: Tensor, boxes: Tensor) -> Tensor:
        boxes = boxes.to(rel_codes.dtype)
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights
        wx, wy, ww, wh = self.weights
        dx = rel_codes[:, 0::4] / wx
        dy = rel_codes[:, 1::4] / wy
        dw = torch.clamp(rel_codes[:, 2::4] / ww, max=self.bbox_xform_clip)
        dh = torch.clamp(rel_codes[:, 3::4] / wh, max=self.bbox_xform_clip)
        pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
        pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
        pred_w = torch.exp(dw) * widths[:, None]
        pred_h = torch.exp(dh) * heights[:, None]
        half_w, half_h = 0.5 * pred_w, 0.5 * pred_h
        pred = torch.stack((pred_ctr_x - half_w, pred_ctr_y - half_h, pred_ctr_x + half_w, pred_ctr_y + half_h), dim=2)
        return pred.flatten(1)


# -- torchvision.models.detection.anchor_utils --------------------------------------------------


class AnchorGenerator(nn.Module):
    def __init__(self, sizes: tuple[tuple[int, ...], ...], aspect_ratios: tuple[tuple[float, ...], ...]) -> None:
        super().__init__()
        self.cell_anchors = [self.generate_anchors(s, a) for s, a in zip(sizes, aspect_ratios)]

    @staticmethod
    def generate_anchors(scales: tuple[int, ...], aspect_ratios: tuple[float, ...]) -> Tensor:
        scales_t = torch.as_tensor(scales, dtype=torch.float32)
        ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales_t[None, :]).view(-1)
        hs = (h_ratios[:, None] * scales_t[None, :]).view(-1)
        return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()

    def forward(self, image_size: tuple[int, int], feature_maps: list[Tensor]) -> list[Tensor]:
        anchors = []
        for base, feature in zip(self.cell_anchors, feature_maps):
            grid_h, grid_w = feature.shape[-2:]
            stride_h, stride_w = image_size[0] // grid_h, image_size[1] // grid_w
            shifts_x = torch.arange(0, grid_w, dtype=torch.int32).to(torch.float32) * stride_w
            shifts_y = torch.arange(0, grid_h, dtype=torch.int32).to(torch.float32) * stride_h
            shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
            shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
            shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
            anchors.append((shifts.view(-1, 1, 4) + base.view(1, -1, 4)).reshape(-1, 4))
        return anchors


# -- the network ----------------------------------------------------------------------------------


class Backbone(nn.Module):
    """Three stride-8/16/32 stages and an FPN (1x1 laterals, top-down sum, 3x3 outputs)."""

    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 48, 3, 2, 1), nn.ReLU(),
                                  nn.Conv2d(48, 64, 3, 2, 1), nn.ReLU())
        self.c4 = nn.Sequential(nn.Conv2d(64, 96, 3, 2, 1), nn.ReLU())
        self.c5 = nn.Sequential(nn.Conv2d(96, 128, 3, 2, 1), nn.ReLU())
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in (64, 96, 128))
        self.output = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(3))

    def forward(self, x: Tensor) -> list[Tensor]:
        c3 = self.stem(x)
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + F.interpolate(p5, size=c4.shape[-2:], mode="nearest")
        p3 = self.lateral[0](c3) + F.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        return [conv(p) for conv, p in zip(self.output, (p3, p4, p5))]


class Head(nn.Module):
    """RetinaNet's classification or regression head (2 convs here instead of 4), outputs (N, HWA, K)."""

    def __init__(self, channels: int, num_anchors: int, out_per_anchor: int, prior: float | None,
                 out_std: float) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(channels, num_anchors * out_per_anchor, 3, padding=1)
        self.k = out_per_anchor
        # torchvision draws the output weights with std 0.01. Untrained, that scores every anchor at the prior
        # and finds nothing; a wider draw spreads the random scores around the prior so that images differ
        # in how many boxes pass the threshold and NMS (what this model is for)
        nn.init.normal_(self.out.weight, std=out_std)
        nn.init.constant_(self.out.bias, 0)
        if prior is not None:  # the focal-loss prior: every class starts at probability `prior`
            nn.init.constant_(self.out.bias, -math.log((1 - prior) / prior))

    def forward(self, features: list[Tensor]) -> Tensor:
        outs = []
        for feature in features:
            y = self.out(self.conv(feature))
            n, _, h, w = y.shape
            outs.append(y.view(n, -1, self.k, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, self.k))
        return torch.cat(outs, dim=1)


class TinyRetinaNet(nn.Module):
    def __init__(self, num_classes: int = 91, score_thresh: float = 0.05, nms_thresh: float = 0.5,
                 detections_per_img: int = 300, topk_candidates: int = 1000, image_size: int = 320) -> None:
        super().__init__()
        sizes = tuple((x, int(x * 2 ** (1 / 3)), int(x * 2 ** (2 / 3))) for x in (32, 64, 128))
        self.anchor_generator = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 3)
        self.backbone = Backbone()
        self.cls_head = Head(64, 9, num_classes, prior=0.01, out_std=0.85)
        self.reg_head = Head(64, 9, 4, prior=None, out_std=0.5)
        self.box_coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_img, self.topk_candidates = detections_per_img, topk_candidates
        self.image_size = (image_size, image_size)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, images: Tensor) -> list[dict[str, Tensor]]:
        features = self.backbone((images - self.mean) / self.std)
        head_outputs = {"cls_logits": self.cls_head(features), "bbox_regression": self.reg_head(features)}
        anchors = self.anchor_generator(self.image_size, features)
        num_anchors_per_level = [a.shape[0] for a in anchors]
        split_head_outputs = {k: list(v.split(num_anchors_per_level, dim=1)) for k, v in head_outputs.items()}
        split_anchors = [anchors for _ in range(images.shape[0])]
        return self.postprocess_detections(split_head_outputs, split_anchors, [self.image_size] * images.shape[0])

    def postprocess_detections(self, head_outputs: dict[str, list[Tensor]], anchors: list[list[Tensor]],
                               image_shapes: list[tuple[int, int]]) -> list[dict[str, Tensor]]:
        """torchvision's RetinaNet.postprocess_detections, line for line."""
        class_logits = head_outputs["cls_logits"]
        box_regression = head_outputs["bbox_regression"]
        detections = []
        for index in range(len(image_shapes)):
            box_regression_per_image = [br[index] for br in box_regression]
            logits_per_image = [cl[index] for cl in class_logits]
            anchors_per_image, image_shape = anchors[index], image_shapes[index]
            image_boxes, image_scores, image_labels = [], [], []
            for box_regression_per_level, logits_per_level, anchors_per_level in zip(
                    box_regression_per_image, logits_per_image, anchors_per_image):
                num_classes = logits_per_level.shape[-1]
                scores_per_level = torch.sigmoid(logits_per_level).flatten()
                keep_idxs = scores_per_level > self.score_thresh
                scores_per_level = scores_per_level[keep_idxs]
                topk_idxs = torch.where(keep_idxs)[0]
                num_topk = _topk_min(topk_idxs, self.topk_candidates, 0)
                scores_per_level, idxs = scores_per_level.topk(num_topk)
                topk_idxs = topk_idxs[idxs]
                anchor_idxs = torch.div(topk_idxs, num_classes, rounding_mode="floor")
                labels_per_level = topk_idxs % num_classes
                boxes_per_level = self.box_coder.decode_single(box_regression_per_level[anchor_idxs],
                                                               anchors_per_level[anchor_idxs])
                boxes_per_level = clip_boxes_to_image(boxes_per_level, image_shape)
                image_boxes.append(boxes_per_level)
                image_scores.append(scores_per_level)
                image_labels.append(labels_per_level)
            boxes, scores, labels = torch.cat(image_boxes), torch.cat(image_scores), torch.cat(image_labels)
            keep = batched_nms(boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            detections.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return detections
