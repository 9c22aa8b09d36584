"""What the analysis knows about libraries, kept as data in one place.

Users extend it from ``[tool.dropout-guard]`` (see ``Knowledge.extended``): extra factories
that return models in eval mode, extra decorators that disable grad, extra names of
inference functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import FrozenSet, Iterable

TORCH_MODULE_BASES = frozenset({
    "torch.nn.Module", "torch.nn.modules.module.Module", "nn.Module",
    "lightning.LightningModule", "lightning.pytorch.LightningModule", "pytorch_lightning.LightningModule",
    "torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict",
})
# Other frameworks' model bases: a class derived from one (a Keras model, a Flax module) is
# no torch module, whatever mixins it adds or its name says (transformers' `TFPreTrainedModel`).
OTHER_FRAMEWORK_PREFIXES = ("tensorflow.", "tf.", "keras.", "tf_keras.", "flax.", "jax.", "haiku.", "paddle.",
                            "mindspore.")

# libraries whose lowercase attributes are functions (``F.relu``, ``torch.tanh``, ``np.exp``):
# a parameter defaulting to one holds a callback, not a layer.
FUNCTION_LIBRARIES = frozenset({"torch", "numpy", "math", "scipy", "jax", "einops", "operator"})

LIGHTNING_BASES = frozenset({
    "lightning.LightningModule", "lightning.pytorch.LightningModule", "pytorch_lightning.LightningModule",
    "lightning.pytorch.core.LightningModule", "pytorch_lightning.core.LightningModule",
})

# torch.nn layers that behave differently in training and in eval.
MODE_DEPENDENT_LAYERS = frozenset({
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LazyBatchNorm1d", "LazyBatchNorm2d",
    "LazyBatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
    "LSTM", "GRU", "RNN",  # inter-layer dropout argument
    "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "RReLU",
})
# Mode-dependent only through a dropout argument (the positional index given): without it,
# or with a constant 0, they behave the same in training and in eval.
DROPOUT_ARGUMENT_LAYERS = {"LSTM": 5, "GRU": 5, "RNN": 6, "MultiheadAttention": 2}
# Third-party libraries whose model classes are known to hold dropout or batch norm: a class
# built from one is evidence; a class of another library the analysis cannot see (an einops
# `Rearrange`, an augmentation) is not.
LIBRARY_MODEL_PREFIXES = ("torchvision.models.", "timm.", "torchaudio.models.", "transformers.", "peft.",
                          "diffusers.", "torch.hub.", "open_clip.", "segmentation_models_pytorch.")
# torch's legacy typed constructors: `torch.FloatTensor(shape)` or `torch.FloatTensor(values)`
TYPED_TENSOR_CONSTRUCTORS = frozenset({"torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor", "torch.HalfTensor",
                                       "torch.LongTensor", "torch.IntTensor", "torch.BoolTensor",
                                       "torch.cuda.FloatTensor", "torch.cuda.LongTensor"})
# Classes of torch's own domain libraries that are transforms with buffers and no learned
# parameter (spectrograms, resampling, image transforms): a module made of them is no model.
PARAMETER_FREE_LIBRARY_PREFIXES = ("torchaudio.transforms.", "torchvision.transforms.")
DROPOUT_LAYERS = frozenset({"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                            "FeatureAlphaDropout"})

# torch.nn layers that hold parameters (by name prefix): running one records a graph of its
# weights even on an input that needs no grad. Activations, pooling, dropout and losses do not.
PARAMETER_LAYER_PREFIXES = ("Linear", "Bilinear", "LazyLinear", "Conv", "LazyConv", "Embedding", "LSTM", "GRU",
                            "RNN", "BatchNorm", "SyncBatchNorm", "LazyBatchNorm", "LayerNorm", "GroupNorm",
                            "Transformer", "MultiheadAttention", "PReLU", "Sequential", "ModuleList",
                            "ModuleDict")

# Functional dropout that defaults to training=True (DG301); alpha variants default to False.
FUNCTIONAL_DROPOUT = frozenset({
    "torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d",
})

NO_GRAD_CONTEXTS = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
                              "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode",
                              # ports of PyTorch code to frameworks with the same context (a repository's
                              # PaddlePaddle version next to its PyTorch one)
                              "paddle.no_grad", "oneflow.no_grad", "jittor.no_grad"})
# Frameworks whose modules look like torch's (`forward`, `train()`, `eval()`, dropout) but
# whose autograd records nothing outside its own gradient manager: no DG201 for their models
# (MegEngine's `GradManager`: YOLOX's MegEngine demo)
UNTAPED_FRAMEWORKS = ("megengine.",)
ENABLE_GRAD_CONTEXTS = frozenset({"torch.enable_grad", "torch.autograd.enable_grad",
                                  "torch.autograd.grad_mode.enable_grad"})
SET_GRAD_ENABLED = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled",
                              "torch.autograd.grad_mode.set_grad_enabled"})
AUTOGRAD_GRAD = frozenset({"torch.autograd.grad"})

# dropout-guard's own runtime API, as the analysis reads it (docs/lint-and-runtime.md).
# `eval_mode(model)`: the model in eval mode and grad off inside, both restored on exit.
# `inference_guard(model=None)`: a region declared inference, checked at run time; it
# changes neither mode nor grad.
_RUNTIME_HOMES = ("dropout_guard", "dropout_guard.runtime", "dropout_guard.runtime.guard")
EVAL_MODE_CONTEXTS = frozenset(f"{home}.eval_mode" for home in _RUNTIME_HOMES)
INFERENCE_GUARDS = frozenset(f"{home}.inference_guard" for home in _RUNTIME_HOMES)

# Attention whose `dropout_p` (keyword, or the 5th positional argument) ignores the mode (DG303).
ATTENTION_DROPOUT = frozenset({"torch.nn.functional.scaled_dot_product_attention",
                               "torch._C._nn.scaled_dot_product_attention"})

# Calls that return a model in training mode (library constructors) or in eval mode.
TRAINING_FACTORIES_PREFIXES = ("torchvision.models.", "timm.create_model", "torchaudio.models.")
TRAINING_FACTORIES = frozenset({"timm.create_model", "torch.hub.load"})
MAYBE_TRAINING_LOADERS = frozenset({"torch.load"})


def builds_library_model(q: str) -> bool:
    """``q`` (a qualified name) builds a new model of a library family whose models hold
    dropout or batch norm (``torchvision.models.resnet18``, ``timm.create_model``); not a
    method of a weights enum (``ResNet18_Weights.IMAGENET1K_V1.transforms()``: preprocessing)."""
    last = q.rsplit(".", 1)[-1]
    if any(part.endswith("Weights") for part in q.split(".")[:-1]):
        return False
    return q in TRAINING_FACTORIES or (q.startswith(TRAINING_FACTORIES_PREFIXES) and last[:1].islower()
                                       and (last == "get_model" or not last.startswith(("get_", "list_", "_"))))


def library_model_class(q: str) -> bool:
    """``q`` is a model class of such a library family (``torchvision.models.resnet.ResNet``,
    ``torchvision.models.VGG``): a project class derived from it holds its batch norm or
    dropout (not a weights enum, ``ResNet50_Weights``)."""
    last = q.rsplit(".", 1)[-1]
    return q.startswith(("torchvision.models.", "torchaudio.models.")) and last[:1].isupper() \
        and not last.endswith(("Weights", "Enum"))


def loads_hugging_face_model(q: str) -> bool:
    """``q`` is a Hugging Face ``from_pretrained`` of a torch model class (not a tokenizer, a
    processor or a configuration, nor a TensorFlow or Flax model); such models are returned
    in eval mode."""
    if not (q.endswith(".from_pretrained") and q.startswith(("transformers.", "peft."))):
        return False
    owner = q.rsplit(".", 2)[-2]
    if owner.startswith(("TF", "Flax")):
        return False  # `TFBertModel`, `FlaxAutoModel`: TensorFlow's and JAX's models, no torch module
    return ("Model" in owner or "For" in owner) and not any(
        w in owner for w in ("Tokenizer", "Processor", "Config", "FeatureExtractor"))

# The names a library's star import (`from torch_snippets import *`) is taken to give a file
# that reads them and binds or imports none of them itself (`flow.resolve._resolve_star_imports`).
STAR_IMPORTED_NAMES = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional", "optim": "torch.optim",
                       "np": "numpy"}

# Wrappers that return the same model in the same mode.
SAME_MODEL_WRAPPERS = frozenset({
    "torch.compile", "torch.nn.DataParallel", "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel",
    "torch.jit.script", "torch.jit.trace",
})
# A copy of a model: its modes at the copy, but another object (switching one leaves the other).
COPY_FUNCTIONS = frozenset({"copy.deepcopy"})
SAME_MODEL_METHODS = frozenset({"to", "cuda", "cpu", "half", "float", "double", "bfloat16", "type",
                                "requires_grad_", "share_memory", "to_empty", "apply", "zero_grad"})
NEW_TRAINING_WRAPPERS = frozenset({"torch.optim.swa_utils.AveragedModel"})
MODULE_METHODS = frozenset({"eval", "train", "parameters", "named_parameters", "load_state_dict", "state_dict",
                            "modules", "named_modules", "children", "named_children", "buffers",
                            "register_forward_hook", "register_forward_pre_hook", "zero_grad"})

# Forward passes whose result nobody reads still matter where something records them:
# hooks (feature extraction, Grad-CAM) and quantization observers (calibration between
# prepare and convert).
FORWARD_HOOKS = frozenset({"register_forward_hook", "register_forward_pre_hook", "register_hook",
                           "register_full_backward_hook"})
QUANTIZATION_STEPS = frozenset({"prepare", "prepare_fx", "prepare_qat", "prepare_qat_fx", "prepare_pt2e",
                                "prepare_qat_pt2e", "convert", "convert_fx", "convert_pt2e"})
QUANTIZATION_MODULES = ("torch.ao.quantization", "torch.quantization")

# Identifiers without which the model-mode and grad rules cannot fire (partition.py): a
# model needs torch (or a library built on it) somewhere, or evidence such as a module
# method called on a parameter.
TORCH_TRIGGERS = frozenset({"torch", "nn", "Module", "lightning", "pytorch_lightning", "transformers", "timm",
                            "torchvision", "torchaudio", "accelerate", "train", "training", "backward",
                            "no_grad", "inference_mode", "enable_grad", "set_grad_enabled", "generate",
                            "eval_mode", "inference_guard"}) | MODULE_METHODS


@dataclass(frozen=True)
class Knowledge:
    """Project-extensible knowledge. Names are fully qualified (``mypkg.registry.load_model``)."""

    eval_factories: FrozenSet[str] = field(default_factory=frozenset)
    no_grad_decorators: FrozenSet[str] = field(default_factory=frozenset)
    inference_functions: FrozenSet[str] = field(default_factory=frozenset)

    def trigger_names(self) -> FrozenSet[str]:
        """The last components of the configured names: they make a file relevant too."""
        names = self.eval_factories | self.no_grad_decorators | self.inference_functions
        return frozenset(n.rsplit(".", 1)[-1] for n in names)

    def extended(self, *, eval_factories: Iterable[str] = (), no_grad_decorators: Iterable[str] = (),
                 inference_functions: Iterable[str] = ()) -> "Knowledge":
        return replace(self,
                       eval_factories=self.eval_factories | frozenset(eval_factories),
                       no_grad_decorators=self.no_grad_decorators | frozenset(no_grad_decorators),
                       inference_functions=self.inference_functions | frozenset(inference_functions))


DEFAULT_KNOWLEDGE = Knowledge()
