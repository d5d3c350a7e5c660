"""dp.nn: the high-level part of the paper, built on Node and nothing else.

`Model` (the paper's base class, with `ReLu_Layer` / `Linear_Layer`, `get_grad`, `get_param`,
`set_param`, `save` / `load`) and `Sequential`; layers and activations (`layers`: Linear,
Embedding, LayerNorm, BatchNorm, Dropout, Flatten, the activations); convolution and pooling
(`conv`); recurrent layers and their cells (`recurrent`); attention (`attention`); losses
(`losses`); weight initialisers (`init`); optimizers and the training loop (`optim`), with
gradient clipping, weight decay and learning-rate schedules (`schedules`). Each layer is also a
function where PyTorch has one in torch.nn.functional. docs/layers.md lists every layer's
parameters and layouts.
"""

from dp.nn import init, schedules
from dp.nn.attention import MultiheadAttention, scaled_dot_product_attention
from dp.nn.conv import AvgPool2d, Conv2d, MaxPool2d, avg_pool2d, conv2d, max_pool2d
from dp.nn.layers import (ELU, GELU, Activation, BatchNorm, Dropout, Embedding, Flatten, Layer, LayerNorm, LeakyReLU,
                          Linear, LinearLayer, LogSoftmax, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh, elu, embedding,
                          gelu, layer_norm, leaky_relu, log_softmax, relu, sigmoid, silu, softmax, softplus, tanh)
from dp.nn.losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                          cross_entropy_from_probs, mean_squared_error, mse)
from dp.nn.model import Model, Sequential
from dp.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from dp.nn.optim import SGD, SGD_Momentum, Adam, AdamW, Momentum, Optimizer, RMSProp, clip_grad_norm
from dp.nn.schedules import CosineAnnealingLR, LambdaLR, LinearLR, Schedule, SequentialLR, StepLR

__all__ = [
    "AdamW", "CosineAnnealingLR", "LambdaLR", "LinearLR", "Schedule", "SequentialLR", "StepLR", "clip_grad_norm",
    "schedules", "GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell", "MultiheadAttention",
    "scaled_dot_product_attention",
    "AvgPool2d", "Conv2d", "ELU", "Embedding", "Flatten", "GELU", "LayerNorm", "MaxPool2d", "SiLU", "Softplus",
    "avg_pool2d", "conv2d", "elu", "embedding", "gelu", "layer_norm", "max_pool2d", "silu", "softplus",
    "Activation", "Adam", "BatchNorm", "Dropout", "Layer", "LeakyReLU", "Linear", "LinearLayer", "LogSoftmax",
    "Model", "Momentum", "Optimizer", "RMSProp", "ReLU", "SGD", "SGD_Momentum", "Sequential", "Sigmoid", "Softmax",
    "Tanh", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "cross_entropy_from_probs",
    "init", "leaky_relu", "log_softmax", "mean_squared_error", "mse", "relu", "sigmoid", "softmax", "tanh",
]
