"""Batched, differentiable camera geometry in VGGT's conventions.

* Extrinsics are camera-from-world ``[R | t]`` (``[..., 3, 4]``) in OpenCV axes: x right, y down, z forward.
* Quaternions are scalar-last ``(x, y, z, w)`` (Hamilton).
* Pixel ``(u, v)`` of a map is its integer (column, row) index, without a +0.5 offset.
* Every function takes arbitrary leading dims and keeps the input dtype and device.
"""

from .alignment import apply_similarity, umeyama
from .camera import project_points, project_points_numpy, se3_inverse, to_homogeneous, unproject_depth
from .epipolar import essential_from_cameras, fundamental_from_cameras, sampson_error, skew_symmetric
from .pose_encoding import content_intrinsics, extri_intri_to_pose_encoding, pose_encoding_to_extri_intri
from .pose_errors import (
    pair_indices,
    pairwise_pose_errors,
    relative_poses,
    relative_rotation_error,
    translation_direction_error,
)
from .rotation import axis_angle_to_mat, mat_to_quat, quat_to_mat, rotation_angle
from .similarity import (
    SimilarityFit,
    compose_similarity,
    invert_similarity,
    robust_similarity,
    similarity_matrix,
    similarity_parts,
    transform_extrinsics,
    transform_points,
)

__all__ = [
    "SimilarityFit",
    "compose_similarity",
    "content_intrinsics",
    "invert_similarity",
    "robust_similarity",
    "similarity_matrix",
    "similarity_parts",
    "transform_extrinsics",
    "transform_points",
    "apply_similarity",
    "axis_angle_to_mat",
    "essential_from_cameras",
    "extri_intri_to_pose_encoding",
    "fundamental_from_cameras",
    "mat_to_quat",
    "pair_indices",
    "pairwise_pose_errors",
    "pose_encoding_to_extri_intri",
    "project_points",
    "project_points_numpy",
    "quat_to_mat",
    "relative_poses",
    "relative_rotation_error",
    "rotation_angle",
    "sampson_error",
    "se3_inverse",
    "skew_symmetric",
    "to_homogeneous",
    "translation_direction_error",
    "umeyama",
    "unproject_depth",
]
