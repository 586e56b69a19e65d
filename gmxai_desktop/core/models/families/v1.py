"""Family ``gestaltmatcher-v1``: upstream GestaltMatcher v1 / DeepGestalt state_dicts.

Any class count (139 for GMDB, 10575 for the CASIA FaceRecogNet). 100x100 grey input in [0, 1],
embedding = spatial mean of ``base.13``.
"""

from __future__ import annotations

import torch

from ...base.errors import CheckpointError
from ..built import Built
from ..checkpoint import check_finite, fit_message, fit_problems, load_into, to_float32
from ..content import MODULE, STATE_DICT, Content
from ..gm_v1 import DEFAULT_CAM_LAYER, INPUT_SIZE, GestaltMatcherV1, looks_like_v1
from .statedict import V1, arch_hint

KIND = V1
LABEL = V1
FORMATS = (STATE_DICT, MODULE)


def detect(content: Content) -> float:
    state = content.state()
    return 1.0 if state is not None and looks_like_v1(state) else 0.0


def build(content: Content, variant: str | None = None, forced: bool = False) -> Built:
    state = to_float32(content.state() or {})
    name = content.name
    check_finite(state, name)
    hint = arch_hint(state, V1) if forced else ""
    head = state.get("classifier.0.weight")
    num_classes = int(head.shape[0]) if head is not None and head.ndim == 2 else 139
    first = state.get("base.0.conv.weight")
    in_ch = int(first.shape[1]) if first is not None and first.ndim == 4 and first.shape[1] in (1, 3) else 1
    with torch.device("meta"):
        net = GestaltMatcherV1(num_classes=num_classes, in_channels=in_ch)
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    missing, unexpected, mismatched = fit_problems(state, expected)
    if missing or unexpected or mismatched:
        raise CheckpointError(fit_message(name, V1, missing, unexpected, mismatched, hint))
    load_into(net, state, name, V1)
    return Built(
        arch=V1,
        net=net,
        num_classes=num_classes,
        input_size=INPUT_SIZE,
        channels=in_ch,
        mean=(0.0,) * in_ch,
        std=(1.0,) * in_ch,
        template="gm-v1",
        cam_layer=DEFAULT_CAM_LAYER,
        logits_index=0,
        has_embedding=True,
        embedding_index=1,
        embedding_is_spatial_mean=True,
        weights_checked=content.format == STATE_DICT,
    )
