"""VGGT's 9-value camera encoding "absT_quaR_FoV" and its conversion to/from matrices.

Layout (docs/architecture.md, Camera head): ``[t_x, t_y, t_z, q_x, q_y, q_z, q_w, fov_h, fov_w]`` where ``[R | t]`` is the
camera-from-world extrinsic in the OpenCV frame (x right, y down, z forward), ``q`` is the scalar-last
quaternion of ``R``, ``fov_h`` (index 7) is the *vertical* field of view (from H and f_y) and ``fov_w``
(index 8) the *horizontal* one (from W and f_x), both in radians. The principal point is exactly
``(W/2, H/2)`` with zero skew. With integer pixel coordinates at pixel centres (docs/architecture.md,
Conventions) the geometric centre of a ``W``-pixel row is ``(W - 1)/2``, so VGGT's principal point sits
half a pixel right of and below it; that is the model's convention (it was trained with it) and is kept.

:func:`content_intrinsics` reads the same fovs over a box of the image instead of the whole image: the
region of real content of a padded frame (README, Conventions).

Unlike the reference (which always builds float32 and assumes ``[B, S]`` leading dims), these functions
keep the input dtype and accept any leading dims; for float32 model outputs the values are identical.
"""

from __future__ import annotations

import torch

from ._checks import check_image_hw, check_rigid, check_tensor
from .rotation import mat_to_quat, quat_to_mat

__all__ = ["content_intrinsics", "extri_intri_to_pose_encoding", "pose_encoding_to_extri_intri"]


def pose_encoding_to_extri_intri(
    pose_encoding: torch.Tensor, image_hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Extrinsics and intrinsics from VGGT pose encodings.

    Args:
        pose_encoding: ``[..., 9]`` as described in the module docstring.
        image_hw: ``(H, W)`` of the image the encoding refers to (normally the model input size).

    Returns:
        ``extrinsics [..., 3, 4]`` (camera-from-world ``[R | t]``) and
        ``intrinsics [..., 3, 3]`` = ``[[f_x, 0, W/2], [0, f_y, H/2], [0, 0, 1]]`` with
        ``f_y = (H/2) / tan(fov_h/2)`` and ``f_x = (W/2) / tan(fov_w/2)``.
    """
    check_tensor(pose_encoding, "pose_encoding", (9,))
    height, width = check_image_hw(image_hw)
    translation = pose_encoding[..., :3]
    rotation = quat_to_mat(pose_encoding[..., 3:7])
    extrinsics = torch.cat((rotation, translation.unsqueeze(-1)), dim=-1)  # [..., 3, 4]

    fov_h, fov_w = pose_encoding[..., 7], pose_encoding[..., 8]
    f_y = (height / 2.0) / torch.tan(fov_h / 2.0)
    f_x = (width / 2.0) / torch.tan(fov_w / 2.0)
    zeros = torch.zeros_like(f_x)
    ones = torch.ones_like(f_x)
    c_x = torch.full_like(f_x, width / 2.0)
    c_y = torch.full_like(f_x, height / 2.0)
    intrinsics = torch.stack((f_x, zeros, c_x, zeros, f_y, c_y, zeros, zeros, ones), dim=-1)
    return extrinsics, intrinsics.reshape((*f_x.shape, 3, 3))


def content_intrinsics(pose_encoding: torch.Tensor, content_boxes: torch.Tensor) -> torch.Tensor:
    """Intrinsics that read the predicted fields of view over each frame's content box.

    A padded frame (``mode="pad"``: the photo plus white bars) shows the camera's view only inside its
    content box. VGGT is trained on frames that are all content, and its fovs describe what it sees:
    read over the whole padded square they turn a 4:3 photo's focal lengths into f_y/f_x ~ 4/3
    (measured on the bundled model: 1.30-1.36 over the padded square, 0.98-1.02 over the content box,
    0.98-1.03 in crop mode on the same photos). This function applies the formulas of
    :func:`pose_encoding_to_extri_intri` to the box instead of the image: with ``w = x1 - x0`` and
    ``h = y1 - y0``, ``f_x = (w/2) / tan(fov_w/2)``, ``f_y = (h/2) / tan(fov_h/2)`` and the principal point
    ``(x0 + w/2, y0 + h/2)`` (VGGT's half-pixel convention, see the module docstring). A box covering the
    whole ``H x W`` image, ``(0, 0, W, H)``, gives exactly (bit for bit) the intrinsics of
    :func:`pose_encoding_to_extri_intri`.

    Args:
        pose_encoding: ``[..., 9]`` as described in the module docstring.
        content_boxes: ``[..., 4]`` half-open pixel boxes ``(x0, y0, x1, y1)`` (``ImageBatch.valid_regions``,
            ``Reconstruction.valid_regions``), broadcastable against ``pose_encoding[..., 0]``; any
            real or integer dtype.

    Returns:
        ``[..., 3, 3]`` intrinsics in the pixels of the full image, in ``pose_encoding``'s dtype.
    """
    check_tensor(pose_encoding, "pose_encoding", (9,))
    if not isinstance(content_boxes, torch.Tensor):
        raise TypeError(f"content_boxes: expected a torch.Tensor of shape [..., 4], got {type(content_boxes).__name__}")
    if content_boxes.ndim < 1 or content_boxes.shape[-1] != 4:
        raise ValueError(f"content_boxes: expected shape [..., 4] (x0, y0, x1, y1), got {list(content_boxes.shape)}")
    boxes = content_boxes.to(device=pose_encoding.device, dtype=pose_encoding.dtype)
    x0, y0, x1, y1 = boxes.unbind(-1)
    width, height = x1 - x0, y1 - y0
    if not (bool((width > 0).all()) and bool((height > 0).all())):
        bad = content_boxes.reshape(-1, 4)[((width <= 0) | (height <= 0)).reshape(-1)][0].tolist()
        raise ValueError(f"content_boxes: every box needs x1 > x0 and y1 > y0, got {bad}")
    fov_h, fov_w = pose_encoding[..., 7], pose_encoding[..., 8]
    # (size / 2) * (1 / tan): the same float operations as the scalar ``(H / 2.0) / tan`` above (torch
    # divides a Python number by a tensor as ``reciprocal * number``), so full-image boxes match bit for bit
    f_y = (height / 2.0) * torch.tan(fov_h / 2.0).reciprocal()
    f_x = (width / 2.0) * torch.tan(fov_w / 2.0).reciprocal()
    f_x, f_y = torch.broadcast_tensors(f_x, f_y)
    c_x = (x0 + width / 2.0).expand_as(f_x)
    c_y = (y0 + height / 2.0).expand_as(f_x)
    zeros = torch.zeros_like(f_x)
    ones = torch.ones_like(f_x)
    intrinsics = torch.stack((f_x, zeros, c_x, zeros, f_y, c_y, zeros, zeros, ones), dim=-1)
    return intrinsics.reshape((*f_x.shape, 3, 3))


def extri_intri_to_pose_encoding(
    extrinsics: torch.Tensor, intrinsics: torch.Tensor, image_hw: tuple[int, int]
) -> torch.Tensor:
    """VGGT pose encodings from camera matrices (the inverse of :func:`pose_encoding_to_extri_intri`).

    Only the focal lengths of ``intrinsics`` are used: ``fov_h = 2 atan((H/2) / K[1,1])`` and
    ``fov_w = 2 atan((W/2) / K[0,0])``; the principal point is assumed to be the image centre.

    Args:
        extrinsics: ``[..., 3, 4]`` camera-from-world ``[R | t]`` (a ``[..., 4, 4]`` matrix is also accepted).
        intrinsics: ``[..., 3, 3]`` with the same leading dims.
        image_hw: ``(H, W)`` in pixels.

    Returns:
        ``[..., 9]``: ``[t (3), q xyzw (4), fov_h, fov_w]``.
    """
    check_rigid(extrinsics, "extrinsics")
    check_tensor(intrinsics, "intrinsics", (3, 3))
    if extrinsics.shape[:-2] != intrinsics.shape[:-2]:
        raise ValueError(
            "extrinsics and intrinsics: expected the same leading dims, got "
            f"{list(extrinsics.shape[:-2])} and {list(intrinsics.shape[:-2])}"
        )
    height, width = check_image_hw(image_hw)
    translation = extrinsics[..., :3, 3]
    quaternion = mat_to_quat(extrinsics[..., :3, :3])
    fov_h = 2 * torch.atan((height / 2) / intrinsics[..., 1, 1])
    fov_w = 2 * torch.atan((width / 2) / intrinsics[..., 0, 0])
    return torch.cat((translation, quaternion, fov_h[..., None], fov_w[..., None]), dim=-1)
