"""Landmark index tables for MediaPipe's body (33), hand (21) and face (478) layouts.

"Left" and "right" are always the performer's own, never the image's.
"""
from __future__ import annotations

N_BODY = 33
N_HAND = 21
N_FACE = 478  # 468 mesh points + 10 iris points (refine_face_landmarks=True)

# --- body (BlazePose) ---
NOSE = 0
L_EYE, R_EYE = 2, 5
L_EAR, R_EAR = 7, 8
MOUTH_L, MOUTH_R = 9, 10
L_SHOULDER, R_SHOULDER = 11, 12
L_ELBOW, R_ELBOW = 13, 14
L_WRIST, R_WRIST = 15, 16
L_PINKY, R_PINKY = 17, 18
L_INDEX, R_INDEX = 19, 20
L_THUMB, R_THUMB = 21, 22
L_HIP, R_HIP = 23, 24
L_KNEE, R_KNEE = 25, 26
L_ANKLE, R_ANKLE = 27, 28
L_HEEL, R_HEEL = 29, 30
L_FOOT, R_FOOT = 31, 32

# Mirror map: index of the same body point on the other side (for mirrored-video handling and tests).
BODY_MIRROR = [0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21,
               24, 23, 26, 25, 28, 27, 30, 29, 32, 31]

BODY_EDGES = [
    (L_SHOULDER, R_SHOULDER), (L_SHOULDER, L_ELBOW), (L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW),
    (R_ELBOW, R_WRIST), (L_SHOULDER, L_HIP), (R_SHOULDER, R_HIP), (L_HIP, R_HIP), (L_HIP, L_KNEE),
    (L_KNEE, L_ANKLE), (R_HIP, R_KNEE), (R_KNEE, R_ANKLE), (L_ANKLE, L_HEEL), (L_HEEL, L_FOOT),
    (L_ANKLE, L_FOOT), (R_ANKLE, R_HEEL), (R_HEEL, R_FOOT), (R_ANKLE, R_FOOT), (L_WRIST, L_INDEX),
    (L_WRIST, L_PINKY), (L_WRIST, L_THUMB), (R_WRIST, R_INDEX), (R_WRIST, R_PINKY), (R_WRIST, R_THUMB),
    (NOSE, L_EYE), (NOSE, R_EYE), (L_EYE, L_EAR), (R_EYE, R_EAR), (MOUTH_L, MOUTH_R),
]

# --- hand ---
WRIST = 0
FINGERS = {  # name -> (base, joint, joint, tip); the base is the CMC for the thumb, the MCP otherwise
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}
FINGER_NAMES = tuple(FINGERS)
INDEX_MCP, MIDDLE_MCP, RING_MCP, PINKY_MCP = 5, 9, 13, 17
HAND_EDGES = [(0, 1), (0, 5), (0, 17), (5, 9), (9, 13), (13, 17)] + [
    (a, b) for chain in FINGERS.values() for a, b in zip(chain[:-1], chain[1:])
]

# --- face (canonical face mesh) ---
FACE_FOREHEAD = 10
FACE_CHIN = 152
FACE_NOSE_TIP = 1
FACE_SIDE_R, FACE_SIDE_L = 234, 454
# eyes: (upper lid, lower lid, inner corner, outer corner)
EYE_R = (159, 145, 133, 33)
EYE_L = (386, 374, 362, 263)
# eyelid contours (upper, lower) for the renderer's lid motion
EYE_R_UPPER = (246, 161, 160, 159, 158, 157, 173)
EYE_R_LOWER = (7, 163, 144, 145, 153, 154, 155)
EYE_L_UPPER = (466, 388, 387, 386, 385, 384, 398)
EYE_L_LOWER = (249, 390, 373, 374, 380, 381, 382)
IRIS_R = (468, 469, 470, 471, 472)  # centre first
IRIS_L = (473, 474, 475, 476, 477)
# brows: points along each brow's upper edge
BROW_R = (70, 63, 105, 66, 107)
BROW_L = (300, 293, 334, 296, 336)
MOUTH_CORNER_R, MOUTH_CORNER_L = 61, 291
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
LIP_UPPER_OUTER, LIP_LOWER_OUTER = 0, 17
