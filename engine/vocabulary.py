"""The body's vocabulary, defined once: landmark indices, virtual points, bones, face rings and units.

Everything that names a part of a person reads this module: the tracker's landmark layouts, the token
encoders and retargeting (engine/tokens), the instant renderer's skeleton and face warp
(engine/render/instant) and the networks' crops. Token *channels* live in engine/tokens/schema.py and are
built from the bones and fingers named here.

"Left" and "right" are always the performer's own, never the image's.
"""
from __future__ import annotations

N_BODY = 33
N_HAND = 21
N_FACE = 478  # 468 mesh points + 10 iris points (refine_face_landmarks=True)
N_FACE_MESH = 468  # the mesh alone (the iris points move with the gaze only)

# --- body (BlazePose) ---------------------------------------------------------------------------------
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

BODY_EDGES = [
    (L_SHOULDER, R_SHOULDER), (L_SHOULDER, L_ELBOW), (L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW),
    (R_ELBOW, R_WRIST), (L_SHOULDER, L_HIP), (R_SHOULDER, R_HIP), (L_HIP, R_HIP), (L_HIP, L_KNEE),
    (L_KNEE, L_ANKLE), (R_HIP, R_KNEE), (R_KNEE, R_ANKLE), (L_ANKLE, L_HEEL), (L_HEEL, L_FOOT),
    (L_ANKLE, L_FOOT), (R_ANKLE, R_HEEL), (R_HEEL, R_FOOT), (R_ANKLE, R_FOOT), (L_WRIST, L_INDEX),
    (L_WRIST, L_PINKY), (L_WRIST, L_THUMB), (R_WRIST, R_INDEX), (R_WRIST, R_PINKY), (R_WRIST, R_THUMB),
    (NOSE, L_EYE), (NOSE, R_EYE), (L_EYE, L_EAR), (R_EYE, R_EAR), (MOUTH_L, MOUTH_R),
]
# The joints seen in most framings (shoulders to ankles): what fits a skeleton's scale to a photo.
FIT_POINTS = (L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HIP, R_HIP, L_KNEE, R_KNEE,
              L_ANKLE, R_ANKLE)
HEAD_POINTS = tuple(range(0, 9))  # nose, eyes, ears: the head when there is no face mesh

# --- virtual points: the midpoint of two body landmarks -----------------------------------------------
VIRTUAL_POINTS: dict[str, tuple[int, int]] = {
    "hip_c": (L_HIP, R_HIP),  # the pelvis centre: the body token's root
    "shoulder_c": (L_SHOULDER, R_SHOULDER),
    "l_hand_c": (L_INDEX, L_PINKY),  # the knuckles' middle: where the hand bone ends
    "r_hand_c": (R_INDEX, R_PINKY),
    "mouth_c": (MOUTH_L, MOUTH_R),
    "eye_c": (L_EYE, R_EYE),
}
# One extrapolated point: the crown, this many mouth-to-eye distances above the mouth (hair included).
HEAD_TOP = "head_top"
HEAD_TOP_REACH = 3.0

# --- bones: name -> (parent point, child point); a point is a body index or a virtual point's name ------
BONES: dict[str, tuple[int | str, int | str]] = {
    "spine": ("hip_c", "shoulder_c"),
    "neck": ("shoulder_c", NOSE),  # the token skeleton's neck ends at the nose ...
    "throat": ("shoulder_c", "mouth_c"),  # ... the renderer's at the mouth, where its head bone starts
    "head": ("mouth_c", HEAD_TOP),
    "l_clavicle": ("shoulder_c", L_SHOULDER),
    "r_clavicle": ("shoulder_c", R_SHOULDER),
    "l_upper_arm": (L_SHOULDER, L_ELBOW),
    "l_forearm": (L_ELBOW, L_WRIST),
    "l_hand": (L_WRIST, "l_hand_c"),
    "r_upper_arm": (R_SHOULDER, R_ELBOW),
    "r_forearm": (R_ELBOW, R_WRIST),
    "r_hand": (R_WRIST, "r_hand_c"),
    "l_pelvis": ("hip_c", L_HIP),
    "r_pelvis": ("hip_c", R_HIP),
    "l_thigh": (L_HIP, L_KNEE),
    "l_shin": (L_KNEE, L_ANKLE),
    "l_foot": (L_ANKLE, L_FOOT),
    "l_heel": (L_ANKLE, L_HEEL),
    "r_thigh": (R_HIP, R_KNEE),
    "r_shin": (R_KNEE, R_ANKLE),
    "r_foot": (R_ANKLE, R_FOOT),
    "r_heel": (R_ANKLE, R_HEEL),
}
# The body token's bones, in channel order (engine/tokens/schema.py), root to tips.
TOKEN_BONES = ("spine", "neck", "l_clavicle", "r_clavicle", "l_upper_arm", "l_forearm", "l_hand", "r_upper_arm",
               "r_forearm", "r_hand", "l_pelvis", "r_pelvis", "l_thigh", "l_shin", "l_foot", "l_heel", "r_thigh",
               "r_shin", "r_foot", "r_heel")
# Limbs the driver may not show (a talking head has no legs), with their bones and the joints that say
# whether the limb is in view.
LIMBS: dict[str, tuple[str, ...]] = {
    "l_arm": ("l_upper_arm", "l_forearm", "l_hand"),
    "r_arm": ("r_upper_arm", "r_forearm", "r_hand"),
    "l_leg": ("l_thigh", "l_shin", "l_foot", "l_heel"),
    "r_leg": ("r_thigh", "r_shin", "r_foot", "r_heel"),
}
LIMB_JOINTS: dict[str, tuple[int, int]] = {"l_arm": (L_ELBOW, L_WRIST), "r_arm": (R_ELBOW, R_WRIST),
                                           "l_leg": (L_KNEE, L_ANKLE), "r_leg": (R_KNEE, R_ANKLE)}

# --- hand ----------------------------------------------------------------------------------------------
WRIST = 0
FINGERS = {  # name -> (base, joint, joint, tip); the base is the CMC for the thumb, the MCP otherwise
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}
FINGER_NAMES = tuple(FINGERS)
FINGER_JOINTS = ("base", "mid", "tip")  # the three flexion angles of a finger token
INDEX_MCP, MIDDLE_MCP, RING_MCP, PINKY_MCP = 5, 9, 13, 17
PALM_POINTS = (WRIST, 1, 5, 9, 13, 17)  # rigid palm: wrist, thumb base, the four knuckles
HAND_EDGES = [(0, 1), (0, 5), (0, 17), (5, 9), (9, 13), (13, 17)] + [
    (a, b) for chain in FINGERS.values() for a, b in zip(chain[:-1], chain[1:])
]

# --- face (canonical face mesh) ------------------------------------------------------------------------
FACE_FOREHEAD = 10
FACE_CHIN = 152
FACE_NOSE_TIP = 1
FACE_SIDE_R, FACE_SIDE_L = 234, 454
# eyes: (upper lid, lower lid, inner corner, outer corner)
EYE_R = (159, 145, 133, 33)
EYE_L = (386, 374, 362, 263)
# eyelid contours (upper, lower), outer to inner
EYE_R_UPPER = (246, 161, 160, 159, 158, 157, 173)
EYE_R_LOWER = (7, 163, 144, 145, 153, 154, 155)
EYE_L_UPPER = (466, 388, 387, 386, 385, 384, 398)
EYE_L_LOWER = (249, 390, 373, 374, 380, 381, 382)
# Eye openings as closed rings (outer corner, upper lid, inner corner, lower lid back).
EYE_RING_R = (EYE_R[3],) + EYE_R_UPPER + (EYE_R[2],) + tuple(reversed(EYE_R_LOWER))
EYE_RING_L = (EYE_L[3],) + EYE_L_UPPER + (EYE_L[2],) + tuple(reversed(EYE_L_LOWER))
IRIS_R = (468, 469, 470, 471, 472)  # centre first
IRIS_L = (473, 474, 475, 476, 477)
# brows: points along each brow's upper edge, and along its lower edge
BROW_R = (70, 63, 105, 66, 107)
BROW_L = (300, 293, 334, 296, 336)
BROW_R_LOW = (46, 53, 52, 65, 55)
BROW_L_LOW = (276, 283, 282, 295, 285)
MOUTH_CORNER_R, MOUTH_CORNER_L = 61, 291
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
LIP_UPPER_OUTER, LIP_LOWER_OUTER = 0, 17
# Lip rings, corner to corner (FACEMESH_LIPS); the corners belong to both lips.
LIP_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIP_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIP_CORNERS = (MOUTH_CORNER_R, MOUTH_CORNER_L, LIP_INNER_UPPER[0], LIP_INNER_UPPER[-1])
LIP_UPPER_SET = LIP_OUTER_UPPER[1:-1] + LIP_INNER_UPPER[1:-1]  # the upper lip without its corners
LIP_LOWER_SET = LIP_OUTER_LOWER[1:-1] + LIP_INNER_LOWER[1:-1]
LIPS = tuple(sorted(set(LIP_OUTER_UPPER + LIP_OUTER_LOWER + LIP_INNER_UPPER + LIP_INNER_LOWER)))
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
# Face-mesh points that move with the skull (no jaw, lips, lids or brows): the head's rigid fit.
FACE_RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 33, 133, 362, 263, 234, 454, 127, 356, 93, 323)

# --- units ---------------------------------------------------------------------------------------------
# Two body units, each named for what it measures:
#   torso length (hip centre to shoulder centre): the tokens' unit (placement, a rig's scale);
#   shoulder width: the instant renderer's unit `u` (flesh radii, margins; engine/render/instant/config.py).
# When the photo shows no body, each is estimated from the face by its own ratio:
FACE_HEIGHT_TO_TORSO = 2.2  # torso length over face height (forehead to chin)
FACE_WIDTH_TO_SHOULDERS = 2.2  # shoulder width over face width (side to side)


def point_name(p: int | str) -> str:
    """A bone end as the instant renderer's point key: "b<i>" for a body index, a virtual point's name."""
    return f"b{p}" if isinstance(p, int) else p
